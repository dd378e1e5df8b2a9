"""Each chat's primary contact and its custom-field values, looked up for many slices at once.

A chat's primary contact can be any contact of the organisation, so the contacts of one
slice of chats lie all over the contact table and a lookup per slice reads all of it (and
all of `contact_field_values`): the work per slice grew with the organisation. Here the
lookup is made once for a run of the export's chats (`PIECE_SLICES` slices' worth at a
time), into two DuckDB temporary tables sorted by chat id, and each slice reads its own
chat-id range of them. DuckDB keeps those tables within its memory limit, spilling to disk.

Both lookups read the same rows a per-slice lookup reads: a chat has at most one primary
contact (`warehouse.invariants`), so its values are that contact's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reports_pipeline.replica import Prefilter, ReplicaReader
from reports_pipeline.reports import custom_fields
from reports_pipeline.reports.base import rows_for
from reports_pipeline.reports.custom_fields import CustomField

# Off, every slice looks its own contacts up (the differential test's reference).
ONCE = True
# The chats one lookup covers, in slices: fewer lookups against less temporary storage.
PIECE_SLICES = 20

# The contact's own columns as the chat export names them.
CONTACT_COLUMNS = ("contact_name", "contact_phone", "contact_email")
CONTACT_SELECT = "name AS contact_name, phone AS contact_phone, email AS contact_email"

IN_PIECE = "chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)"
CONTACTS_SQL = f"SELECT chat_id, {CONTACT_SELECT} FROM primary_contacts WHERE {IN_PIECE}"  # noqa: S608
VALUES_SQL = f"SELECT chat_id, field_key, value FROM primary_values WHERE {IN_PIECE}"  # noqa: S608

# The export's chats: {table}'s {key} where {keep} holds (see `PrimaryContacts.prepare`).
CHOSEN_SQL = "SELECT {key} AS key FROM {table} WHERE {keep}"
LAST_SQL = """
SELECT max(key) AS hi FROM (
    SELECT key FROM ({chosen}) WHERE key >= $lo ORDER BY key LIMIT $rows)"""
# A piece's primary links, shared by its two lookups. Pieces also bound the lookups' join
# and sort: over a whole 5M-chat organisation at once they ran out of the reader's 128 MB.
LINKS_SQL = """
SELECT chat_id, contact_id FROM chat_contacts
WHERE is_primary AND chat_id BETWEEN $lo AND $hi
      AND chat_id IN (SELECT key FROM ({chosen}) WHERE key BETWEEN $lo AND $hi)"""
PIECE_CONTACTS_SQL = """
SELECT l.chat_id, p.name, p.phone, p.email
FROM primary_links l JOIN contacts p USING (contact_id) ORDER BY l.chat_id"""
PIECE_VALUES_SQL = """
SELECT l.chat_id, v.field_key, v.value
FROM primary_links l JOIN contact_field_values v USING (contact_id)
WHERE list_contains($keys::VARCHAR[], v.field_key) ORDER BY l.chat_id"""


@dataclass(frozen=True)
class Piece:
    """The chosen chats whose ids lie in [lo, hi] have their lookups in the temporary tables."""

    lo: int
    hi: int

    def covers(self, lo: int, hi: int) -> bool:
        return self.lo <= lo and hi <= self.hi


@dataclass(frozen=True)
class Chosen:
    """The export's chats: `sql` selects their ids as `key`, reading `tables`."""

    sql: str
    tables: tuple[str, ...]
    params: dict[str, Any]


class PrimaryContacts:
    """The primary contact's columns of one export's slices: its name, phone and email
    (`contact`) and its custom-field columns (`fields`). Looked up piece by piece as the
    slices come (in chat-id order, as chats are made), once `prepare` names the export's
    chats; a slice outside every piece, or any slice before, looks its own up."""

    def __init__(
        self,
        reader: ReplicaReader,
        slice_rows: int,
        *,
        contact: bool,
        fields: Sequence[CustomField] | None,
    ) -> None:
        self.reader = reader
        self.piece_rows = slice_rows * PIECE_SLICES
        self.contact = contact
        self.fields = fields
        self.chosen: Chosen | None = None
        self.piece: Piece | None = None

    def prepare(self, table: str, key: str, keep: Prefilter) -> None:
        """The export's chats are the `key`s of `table`'s rows that `keep` keeps: the chats
        table itself, or the table of the rows a semi-join kept (`ReplicaReader.kept`)."""
        sql = CHOSEN_SQL.format(key=key, table=table, keep=keep.sql)
        self.chosen = Chosen(sql, (table, *keep.tables), keep.params)

    def joined(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A slice's frame (with chat_id and its primary contact_id) and those columns."""
        ids = frame["chat_id"]
        if ids.is_empty():
            return self._by_contact(frame)
        lo, hi = int(ids.min()), int(ids.max())  # type: ignore[arg-type]
        if not self._covering(lo, hi):
            return self._by_contact(frame)
        bounds = {"lo": lo, "hi": hi}
        chats = frame.select("chat_id")
        if self.contact:
            contacts = self.reader.query("primary_contacts", CONTACTS_SQL, bounds, c=chats)
            frame = frame.join(contacts, on="chat_id", how="left")
        if self.fields is not None:
            long = self.reader.query("primary_values", VALUES_SQL, bounds, c=chats)
            values = custom_fields.widened(long, ids, self.fields)
            frame = frame.join(values, on="chat_id", how="left")
        return frame

    def _by_contact(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The slice's own lookups, by contact id."""
        contact_ids = frame["contact_id"]
        if self.contact:
            columns = f"contact_id, {CONTACT_SELECT}"
            contacts = rows_for(self.reader, "contacts", "contact_id", contact_ids, columns)
            frame = frame.join(contacts, on="contact_id", how="left")
        if self.fields is not None:
            values = custom_fields.values_for(self.reader, contact_ids, self.fields)
            frame = frame.join(values, on="contact_id", how="left")
        return frame

    def _covering(self, lo: int, hi: int) -> bool:
        """Whether the tables hold the lookups of chats lo..hi, after making them if need be."""
        if self.chosen is None:
            return False
        # Pieces only move on, so no chat is looked up twice: a slice that reaches back
        # before the current piece (chat ids out of time order) is looked up on its own.
        if self.piece is None or lo > self.piece.hi:
            self.piece = self._make(lo)
        return self.piece.covers(lo, hi)

    def _make(self, lo: int) -> Piece:
        """The lookups of the next `piece_rows` chosen chats from chat id `lo` on."""
        chosen = self.chosen
        assert chosen is not None
        last_sql = LAST_SQL.format(chosen=chosen.sql)
        rows = {"lo": lo, "rows": self.piece_rows, **chosen.params}
        piece = Piece(lo, int(self.reader.query(chosen.tables, last_sql, rows)["hi"][0]))
        bounds = {"lo": piece.lo, "hi": piece.hi, **chosen.params}
        links = LINKS_SQL.format(chosen=chosen.sql)
        self.reader.materialize("primary_links", ["chat_contacts", *chosen.tables], links, bounds)
        if self.contact:
            self.reader.materialize("primary_contacts", ["contacts"], PIECE_CONTACTS_SQL)
        if self.fields is not None:
            keys = {"keys": [f.key for f in self.fields]}
            self.reader.materialize(
                "primary_values", ["contact_field_values"], PIECE_VALUES_SQL, keys
            )
        return piece
