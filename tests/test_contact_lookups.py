"""Contacts looked up for many slices at once change nothing but the cost: over many
generated filter mixes, the chat, message, ticket and call-log files are byte-identical to
those of a lookup per slice, and the contacts are read once per piece, not once per slice."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import polars as pl
import pytest

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import contact_lookups
from reports_pipeline.reports.contact_lookups import ContactLookups
from tests.conftest import ORG
from tests.test_pushdown import exported, random_bodies

CASES = 40
SLICE_ROWS = 300  # as `exported` cuts them
PIECE_SLICES = 2  # so that an export makes several pieces


@pytest.fixture
def pieces(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (lo, hi) keys of each piece the exports look up, in order."""
    made: list[tuple[int, int]] = []
    make = ContactLookups._make

    def counted(self: ContactLookups, lo: int) -> contact_lookups.Piece:
        piece = make(self, lo)
        made.append((piece.lo, piece.hi))
        return piece

    monkeypatch.setattr(ContactLookups, "_make", counted)
    monkeypatch.setattr(contact_lookups, "PIECE_SLICES", PIECE_SLICES)
    return made


@pytest.mark.parametrize("name", ["chat", "message", "ticket", "call_log"])
def test_looking_contacts_up_per_piece_changes_no_file(
    replica: Path, name: str, pieces: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(f"contact-lookups-{name}")
    compared = 0
    with ReplicaReader(replica, ORG) as reader:
        for body in [{"type": name}, *random_bodies(rng, name, reader, CASES)]:
            monkeypatch.setattr(contact_lookups, "ONCE", True)
            once, rows, _ = exported(reader, name, body)
            monkeypatch.setattr(contact_lookups, "ONCE", False)
            per_slice, _, _ = exported(reader, name, body)
            assert once == per_slice, body
            compared += rows > 0
    assert compared >= 6  # files with rows (the random mixes of many filters often have none)
    assert len(pieces) > compared  # some export made several


def test_an_export_reads_each_chats_contact_once(
    replica: Path, pieces: list[tuple[int, int]]
) -> None:
    """Pieces follow each other without overlapping and cover PIECE_SLICES slices each,
    so the contact tables are read once per PIECE_SLICES slices rather than per slice."""
    with ReplicaReader(replica, ORG) as reader:
        exported(reader, "chat", {"type": "chat"})
        chats = reader.count("chats")
    assert len(pieces) == -(-chats // (SLICE_ROWS * PIECE_SLICES))
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(pieces))


def test_keys_a_little_out_of_time_order_still_read_contacts_by_piece(
    replica: Path, pieces: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket is made some hours after its chat, so ticket ids run a little out of
    created_at order and a slice can reach past the piece before it: it starts the next
    piece from its own first key rather than reading the whole contact table alone, and
    the file is the same as with a lookup per slice."""
    by_contact = ContactLookups._by_contact
    alone: list[int] = []

    def looked_up_alone(self: ContactLookups, frame: pl.DataFrame) -> pl.DataFrame:
        alone.append(frame.height)
        return by_contact(self, frame)

    monkeypatch.setattr(ContactLookups, "_by_contact", looked_up_alone)
    with ReplicaReader(replica, ORG) as reader:
        sql = "SELECT ticket_id FROM tickets ORDER BY created_at, ticket_id"
        keys = reader.query("tickets", sql)["ticket_id"]
        rows = next(rows for rows in range(20, 300) if _straddles(keys, rows))
        once = exported(reader, "ticket", {"type": "ticket"}, rows)[0]
        assert alone == []
        monkeypatch.setattr(contact_lookups, "ONCE", False)
        assert once == exported(reader, "ticket", {"type": "ticket"}, rows)[0]
    slices = -(-keys.len() // rows)
    assert len(alone) == slices  # the reference looked every slice up alone
    assert slices // PIECE_SLICES <= len(pieces) < slices


def _straddles(keys: pl.Series, rows: int) -> bool:
    """Whether a slice of `rows` keys in time order reaches below the slice before it."""
    slices = [keys[i : i + rows] for i in range(0, keys.len(), rows)]
    return any(a.max() > b.min() for a, b in itertools.pairwise(slices))  # type: ignore[operator]
