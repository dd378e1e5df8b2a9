"""Each exported row's contact (a chat's primary contact, a ticket's or a call's contact)
and its custom-field values, looked up for many slices at once.

A row's contact can be any contact of the organisation, so the contacts of one slice lie
all over the contact table and a lookup per slice reads all of it (and all of
`contact_field_values`): the work per slice grew with the organisation. Here the lookup is
made once for a run of the export's rows (`PIECE_SLICES` slices' worth at a time), into
DuckDB temporary tables sorted by the row's key, and each slice reads its own key range of
them. DuckDB keeps those tables within its memory limit, spilling to disk.

Both lookups read the same rows a per-slice lookup reads: a row has at most one contact
(for chats, `warehouse.invariants`), so its values are that contact's.
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
# The rows one lookup covers, in slices: fewer lookups against less temporary storage.
PIECE_SLICES = 20

# The chat export's contact columns (a select list over `contacts`).
CHAT_CONTACT_COLUMNS = ("contact_name", "contact_phone", "contact_email")
CHAT_CONTACT_SELECT = "name AS contact_name, phone AS contact_phone, email AS contact_email"

# Every statement below names only our own tables and columns ({key}, {links}, ...).
IN_PIECE = "{key} BETWEEN $lo AND $hi AND {key} IN (SELECT {key} FROM c)"
CONTACTS_SQL = "SELECT * FROM piece_contacts WHERE " + IN_PIECE  # noqa: S608
VALUES_SQL = "SELECT {key}, field_key, value FROM piece_values WHERE " + IN_PIECE  # noqa: S608

# The export's rows: {table}'s {key} where {keep} holds (see `ContactLookups.prepare`).
CHOSEN_SQL = "SELECT {key} AS key FROM {table} WHERE {keep}"
LAST_SQL = """
SELECT max(key) AS hi FROM (
    SELECT key FROM ({chosen}) WHERE key >= $lo ORDER BY key LIMIT $rows)"""
# A piece's links to their contacts, shared by its two lookups. Pieces also bound the
# lookups' join and sort: over a whole 5M-chat organisation at once they ran out of the
# reader's 128 MB.
LINKS_SQL = """
SELECT {key}, contact_id FROM {links}
WHERE {linked} AND {key} BETWEEN $lo AND $hi
      AND {key} IN (SELECT key FROM ({chosen}) WHERE key BETWEEN $lo AND $hi)"""
PIECE_CONTACTS_SQL = """
SELECT l.{key}, {select}
FROM piece_links l JOIN contacts p USING (contact_id) ORDER BY l.{key}"""
PIECE_VALUES_SQL = """
SELECT l.{key}, v.field_key, v.value
FROM piece_links l JOIN contact_field_values v USING (contact_id)
WHERE list_contains($keys::VARCHAR[], v.field_key) ORDER BY l.{key}"""


@dataclass(frozen=True)
class ContactOf:
    """Where an exported row's contact is named: the `contact_id` of `links`'s row with
    the row's `key`, where `linked` holds (a chat's primary link, or the row itself)."""

    links: str
    key: str
    linked: str = "true"


PRIMARY_CONTACT = ContactOf("chat_contacts", "chat_id", "is_primary")


@dataclass(frozen=True)
class Piece:
    """The chosen rows whose keys lie in [lo, hi] have their lookups in the temporary tables."""

    lo: int
    hi: int

    def covers(self, lo: int, hi: int) -> bool:
        return self.lo <= lo and hi <= self.hi


@dataclass(frozen=True)
class Chosen:
    """The export's rows: `sql` selects their keys as `key`, reading `tables`."""

    sql: str
    tables: tuple[str, ...]
    params: dict[str, Any]


class ContactLookups:
    """The contact columns of one export's slices: `select`, a select list over `contacts`
    (None: no such column), and the custom-field columns of `fields`. Looked up piece by
    piece as the slices come (in about key order, as rows are made), once `prepare` names
    the export's rows; a slice that reaches back before the current piece, or any slice
    before `prepare`, looks its own up."""

    def __init__(
        self,
        reader: ReplicaReader,
        slice_rows: int,
        contact_of: ContactOf,
        *,
        select: str | None,
        fields: Sequence[CustomField] | None = None,
    ) -> None:
        self.reader = reader
        self.piece_rows = slice_rows * PIECE_SLICES
        self.contact_of = contact_of
        self.select = select
        self.fields = fields
        self.chosen: Chosen | None = None
        self.piece: Piece | None = None

    @property
    def key(self) -> str:
        """The exported rows' key column, in every frame and temporary table here."""
        return self.contact_of.key

    def prepare(self, table: str, key: str, keep: Prefilter) -> None:
        """The export's rows are the `key`s of `table`'s rows that `keep` keeps: the base
        table itself, or the table of the rows a semi-join kept (`ReplicaReader.kept`)."""
        if ONCE:
            sql = CHOSEN_SQL.format(key=key, table=table, keep=keep.sql)
            self.chosen = Chosen(sql, (table, *keep.tables), keep.params)

    def joined(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A slice's frame (with its key and contact_id) and the contact columns."""
        ids = frame[self.key]
        if ids.is_empty():
            return self._by_contact(frame)
        lo, hi = int(ids.min()), int(ids.max())  # type: ignore[arg-type]
        if not self._covering(lo, hi):
            return self._by_contact(frame)
        bounds = {"lo": lo, "hi": hi}
        keys = frame.select(self.key)
        if self.select is not None:
            sql = CONTACTS_SQL.format(key=self.key)
            contacts = self.reader.query("piece_contacts", sql, bounds, c=keys)
            frame = frame.join(contacts, on=self.key, how="left")
        if self.fields is not None:
            sql = VALUES_SQL.format(key=self.key)
            long = self.reader.query("piece_values", sql, bounds, c=keys)
            values = custom_fields.widened(long, ids, self.fields)
            frame = frame.join(values, on=self.key, how="left")
        return frame

    def _by_contact(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The slice's own lookups, by contact id."""
        contact_ids = frame["contact_id"]
        if self.select is not None:
            columns = f"contact_id, {self.select}"
            contacts = rows_for(self.reader, "contacts", "contact_id", contact_ids, columns)
            frame = frame.join(contacts, on="contact_id", how="left")
        if self.fields is not None:
            values = custom_fields.values_for(self.reader, contact_ids, self.fields)
            frame = frame.join(values, on="contact_id", how="left")
        return frame

    def _covering(self, lo: int, hi: int) -> bool:
        """Whether the tables hold the lookups of rows lo..hi, after making them if need be."""
        if self.chosen is None:
            return False
        if self.piece is None or not self.piece.covers(lo, hi):
            # Pieces only move on, so a row is looked up at most twice (in the piece it
            # straddles into, when keys are a little out of time order); a slice that
            # reaches back before the current piece is looked up on its own.
            if self.piece is not None and lo < self.piece.lo:
                return False
            self.piece = self._make(lo)
        return self.piece.covers(lo, hi)

    def _make(self, lo: int) -> Piece:
        """The lookups of the next `piece_rows` chosen rows from key `lo` on."""
        chosen, contact_of = self.chosen, self.contact_of
        assert chosen is not None
        last_sql = LAST_SQL.format(chosen=chosen.sql)
        rows = {"lo": lo, "rows": self.piece_rows, **chosen.params}
        piece = Piece(lo, int(self.reader.query(chosen.tables, last_sql, rows)["hi"][0]))
        bounds = {"lo": piece.lo, "hi": piece.hi, **chosen.params}
        links = LINKS_SQL.format(
            key=self.key, links=contact_of.links, linked=contact_of.linked, chosen=chosen.sql
        )
        self.reader.materialize("piece_links", [contact_of.links, *chosen.tables], links, bounds)
        if self.select is not None:
            sql = PIECE_CONTACTS_SQL.format(key=self.key, select=self.select)
            self.reader.materialize("piece_contacts", ["contacts"], sql)
        if self.fields is not None:
            keys = {"keys": [f.key for f in self.fields]}
            sql = PIECE_VALUES_SQL.format(key=self.key)
            self.reader.materialize("piece_values", ["contact_field_values"], sql, keys)
        return piece
