"""Chats' primary contacts looked up for many slices at once change nothing but the cost:
over many generated filter mixes, the chat and message files are byte-identical to those of
a lookup per slice, and the contacts are read once per piece, not once per slice."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import primary_contacts
from reports_pipeline.reports.primary_contacts import PrimaryContacts
from tests.conftest import ORG
from tests.test_pushdown import exported, random_bodies

CASES = 40
SLICE_ROWS = 300  # as `exported` cuts them
PIECE_SLICES = 2  # so that an export makes several pieces


@pytest.fixture
def pieces(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (lo, hi) chat ids of each piece the exports look up, in order."""
    made: list[tuple[int, int]] = []
    make = PrimaryContacts._make

    def counted(self: PrimaryContacts, lo: int) -> primary_contacts.Piece:
        piece = make(self, lo)
        made.append((piece.lo, piece.hi))
        return piece

    monkeypatch.setattr(PrimaryContacts, "_make", counted)
    monkeypatch.setattr(primary_contacts, "PIECE_SLICES", PIECE_SLICES)
    return made


@pytest.mark.parametrize("name", ["chat", "message"])
def test_looking_contacts_up_per_piece_changes_no_file(
    replica: Path, name: str, pieces: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(f"primary-contacts-{name}")
    compared = 0
    with ReplicaReader(replica, ORG) as reader:
        for body in [{"type": name}, *random_bodies(rng, name, reader, CASES)]:
            monkeypatch.setattr(primary_contacts, "ONCE", True)
            once, rows, _ = exported(reader, name, body)
            monkeypatch.setattr(primary_contacts, "ONCE", False)
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
