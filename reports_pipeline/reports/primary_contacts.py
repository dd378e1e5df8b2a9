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

import polars as pl

from reports_pipeline.replica import ReplicaReader

# Off, every slice looks its own contacts up (the differential test's reference).
ONCE = True
# The chats one lookup covers, in slices: fewer lookups against less temporary storage.
PIECE_SLICES = 20

IN_PIECE = "chat_id BETWEEN $lo AND $hi AND chat_id IN (SELECT chat_id FROM c)"
CONTACTS_SQL = f"""
SELECT chat_id, contact_id, name, phone, email FROM primary_contacts WHERE {IN_PIECE}"""  # noqa: S608
VALUES_SQL = f"SELECT chat_id, field_key, value FROM primary_values WHERE {IN_PIECE}"  # noqa: S608

# A piece's primary links, shared by its two lookups. Pieces also bound the lookups' join
# and sort: over a whole 5M-chat organisation at once they ran out of the reader's 128 MB.
LINKS_SQL = """
SELECT chat_id, contact_id FROM chat_contacts
WHERE is_primary AND chat_id BETWEEN $lo AND $hi
      AND chat_id IN (SELECT key FROM {kept} WHERE key BETWEEN $lo AND $hi)"""
PIECE_CONTACTS_SQL = """
SELECT l.chat_id, l.contact_id, p.name, p.phone, p.email
FROM primary_links l JOIN contacts p USING (contact_id) ORDER BY l.chat_id"""
PIECE_VALUES_SQL = """
SELECT l.chat_id, v.field_key, v.value
FROM primary_links l JOIN contact_field_values v USING (contact_id)
WHERE list_contains($keys::VARCHAR[], v.field_key) ORDER BY l.chat_id"""


@dataclass(frozen=True)
class Piece:
    """The kept chats whose ids lie in [lo, hi] have their lookups in the temporary tables."""

    lo: int
    hi: int

    def covers(self, lo: int, hi: int) -> bool:
        return self.lo <= lo and hi <= self.hi


class PrimaryContacts:
    """The lookups of one export, piece by piece as its slices come (in chat-id order, as
    chats are made; a slice outside every piece is looked up on its own)."""

    def __init__(self, reader: ReplicaReader, keys: Sequence[str], slice_rows: int) -> None:
        self.reader = reader
        self.keys = list(keys)
        self.piece_rows = slice_rows * PIECE_SLICES
        self.kept: str | None = None
        self.piece: Piece | None = None

    def prepare(self, kept: str) -> None:
        """`kept` names the export's (ts, key) table (`ReplicaReader.kept`)."""
        self.kept = kept if ONCE else None

    def covering(self, chat_ids: pl.Series) -> bool:
        """Whether the tables hold these chats' lookups, after making them if need be."""
        if self.kept is None or chat_ids.is_empty():
            return False
        lo, hi = int(chat_ids.min()), int(chat_ids.max())  # type: ignore[arg-type]
        # Pieces only move on, so no chat is looked up twice: a slice that reaches back
        # before the current piece (chat ids out of time order) is looked up on its own.
        if self.piece is None or lo > self.piece.hi:
            self.piece = self._make(lo)
        return self.piece.covers(lo, hi)

    def _make(self, lo: int) -> Piece:
        """The lookups of the next `piece_rows` kept chats from chat id `lo` on."""
        assert self.kept is not None
        last = self.reader.query(
            self.kept,
            f"SELECT max(key) AS hi FROM (SELECT key FROM {self.kept} "  # noqa: S608 - our name
            "WHERE key >= $lo ORDER BY key LIMIT $rows)",
            {"lo": lo, "rows": self.piece_rows},
        )
        piece = Piece(lo, int(last["hi"][0]))
        bounds = {"lo": piece.lo, "hi": piece.hi}
        links = LINKS_SQL.format(kept=self.kept)
        self.reader.materialize("primary_links", ["chat_contacts", self.kept], links, bounds)
        self.reader.materialize("primary_contacts", ["contacts"], PIECE_CONTACTS_SQL)
        self.reader.materialize(
            "primary_values", ["contact_field_values"], PIECE_VALUES_SQL, {"keys": self.keys}
        )
        return piece

    def contacts(self, chats: pl.DataFrame) -> pl.DataFrame:
        """chat_id, contact_id, name, phone, email of the chats' primary contacts (only
        after `covering` said yes for them)."""
        return self._read(CONTACTS_SQL, "primary_contacts", chats)

    def values(self, chats: pl.DataFrame) -> pl.DataFrame:
        """chat_id, field_key, value: the custom fields set on the chats' primary contacts."""
        return self._read(VALUES_SQL, "primary_values", chats)

    def _read(self, sql: str, table: str, chats: pl.DataFrame) -> pl.DataFrame:
        ids = chats["chat_id"]
        bounds = {"lo": ids.min(), "hi": ids.max()}
        return self.reader.query(table, sql, bounds, c=chats.select("chat_id"))
