"""Invariants of the generated replica that the exports rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.catalog import open_catalog
from warehouse.generate import ReplicaSpec, generate
from warehouse.invariants import INVARIANTS, Invariant
from warehouse.tables import TABLES


@pytest.fixture(scope="module")
def catalog(replica: Path) -> duckdb.DuckDBPyConnection:
    return open_catalog(replica)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0])


def test_every_table_has_rows_in_the_catalog(catalog: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        assert scalar(catalog, f"SELECT count(*) FROM {table}") > 0, table


@pytest.mark.parametrize("invariant", INVARIANTS, ids=lambda i: f"{i.table}.{i.name}")
def test_every_invariant_holds(catalog: duckdb.DuckDBPyConnection, invariant: Invariant) -> None:
    """Unique ids, foreign keys inside the organisation, one primary contact and assignee,
    ordered messages that bound their chat, contiguous goal positions (warehouse/invariants)."""
    assert invariant.violations(catalog) == 0, invariant.description


def test_an_invariant_counts_what_breaks_it(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE chats AS SELECT * FROM "
        "(VALUES ('o1', 1), ('o1', 1), ('o2', 1)) t(org_id, chat_id)"
    )
    (unique,) = [i for i in INVARIANTS if i.table == "chats" and i.name == "chat_id_is_unique"]
    assert unique.violations(con) == 1  # the same id in another organisation is no clash


def test_hostile_text_is_present(catalog: duckdb.DuckDBPyConnection) -> None:
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        hits = sum(
            scalar(
                catalog, f"SELECT count(*) FROM {table} WHERE starts_with({column}, ?)", [prefix]
            )
            for table, column in (("chats", "name"), ("notes", "body"), ("contacts", "name"))
        )
        assert hits > 0, repr(prefix)
    assert scalar(catalog, "SELECT count(*) FROM notes WHERE contains(body, chr(10))") > 0
    assert scalar(catalog, "SELECT count(*) FROM contacts WHERE name IS NULL") > 0


def test_messages_carry_text_of_every_hard_kind_and_their_sender(
    catalog: duckdb.DuckDBPyConnection,
) -> None:
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert scalar(catalog, "SELECT count(*) FROM messages WHERE starts_with(text, ?)", [prefix])
    for needle in (chr(10), '"', ",", "👋", "مرحبا", "שלום"):
        assert scalar(catalog, "SELECT count(*) FROM messages WHERE contains(text, ?)", [needle])
    assert scalar(catalog, "SELECT count(*) FROM messages WHERE text = ''") > 0
    assert scalar(catalog, "SELECT count(*) FROM messages WHERE length(text) > 3000") > 0
    assert scalar(catalog, "SELECT count(*) FROM messages WHERE text IS NULL") == 0
    # The team member is recorded exactly for agent messages.
    assert (
        scalar(
            catalog,
            "SELECT count(*) FROM messages WHERE (member_id IS NOT NULL) <> (sender = 'agent')",
        )
        == 0
    )


def test_organisations_differ_in_custom_fields_and_size(catalog: duckdb.DuckDBPyConnection) -> None:
    field_sets = catalog.execute("""
        SELECT org_id, string_agg(DISTINCT key, ',' ORDER BY key) FROM custom_fields
        WHERE active GROUP BY org_id""").fetchall()
    assert len({keys for _, keys in field_sets}) > 1
    sizes = [
        n
        for (n,) in catalog.execute(
            "SELECT count(*) FROM chats GROUP BY org_id ORDER BY 1 DESC"
        ).fetchall()
    ]
    assert sizes[0] > 2 * sizes[-1]


def test_each_organisation_has_its_own_partition(replica: Path) -> None:
    partitions = sorted(p.name for p in (replica / "chats").iterdir())
    assert partitions == [f"org_id=org_00{i}" for i in range(1, 5)]


def test_the_sample_runs_up_to_the_current_date(tmp_path: Path) -> None:
    """By default the data ends yesterday, so "last month" exports find last month's rows."""
    generate(tmp_path / "r", ReplicaSpec(orgs=1, chats_per_org=2_000, seed=3))
    newest, oldest = duckdb.sql(
        f"SELECT max(created_at), min(created_at) FROM '{tmp_path}/r/chats/*/*.parquet'"
    ).fetchall()[0]
    today = datetime.now(UTC).date()
    assert today - timedelta(days=2) <= newest.date() < today
    assert oldest.date() >= today - timedelta(days=601)
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    in_last_month = duckdb.sql(
        f"""SELECT count(*) FROM '{tmp_path}/r/chats/*/*.parquet'
            WHERE created_at >= '{last_month}' AND created_at < '{today.replace(day=1)}'"""
    ).fetchall()[0][0]
    assert in_last_month > 50


def test_generation_is_deterministic_for_a_seed_and_an_end_date(tmp_path: Path) -> None:
    spec = ReplicaSpec(orgs=2, chats_per_org=300, seed=3, end=date(2027, 3, 1))
    first, second = tmp_path / "a", tmp_path / "b"
    generate(first, spec)
    generate(second, spec)
    for table in ("chats", "notes", "goal_events", "contacts"):
        query = "SELECT * FROM read_parquet(?, hive_partitioning=true) ORDER BY ALL"
        a = duckdb.sql(query.replace("?", f"'{first}/{table}/*/*.parquet'")).fetchall()
        b = duckdb.sql(query.replace("?", f"'{second}/{table}/*/*.parquet'")).fetchall()
        assert a == b, table


def test_draws_with_different_salts_are_independent(catalog: duckdb.DuckDBPyConnection) -> None:
    # Chats with no assignee must carry labels as often as the others do.
    share = catalog.execute("""
        SELECT avg((chat_id IN (SELECT chat_id FROM chat_labels))::INT)
        FROM chats WHERE chat_id NOT IN (SELECT chat_id FROM chat_assignees)""").fetchall()[0][0]
    assert 0.5 < share < 0.95


def test_names_from_data_collide_with_export_columns(catalog: duckdb.DuckDBPyConnection) -> None:
    """So the exports meet the unique-header rule: in every organisation a custom field is
    labelled like a contact column, two keys share a label, and trackers are named like
    the goal export's own columns."""
    orgs = {r[0] for r in catalog.execute("SELECT DISTINCT org_id FROM chats").fetchall()}
    labelled = catalog.execute(
        """SELECT f.org_id, f.label, count(DISTINCT f.key) FROM custom_fields f
           JOIN contact_templates t USING (template_id) WHERE f.active AND t.active
           GROUP BY 1, 2"""
    ).fetchall()
    assert {org for org, label, _ in labelled if label in ("Email", "Channel")} == orgs
    assert {org for org, _, keys in labelled if keys > 1} == orgs
    trackers = catalog.execute(
        "SELECT DISTINCT org_id, tracker_name FROM tracker_values"
        " WHERE tracker_name IN ('Name', 'Milestone', 'Recorded At')"
    ).fetchall()
    assert {org for org, _ in trackers} == {
        r[0] for r in catalog.execute("SELECT DISTINCT org_id FROM tracker_values").fetchall()
    }


def test_conversations_have_the_shape_of_real_ones(catalog: duckdb.DuckDBPyConnection) -> None:
    """Most chats resolved once, some reopened, a minority rated; business hours that
    differ by organisation (one always open, one crossing midnight); hostile comments."""
    chats = scalar(catalog, "SELECT count(*) FROM chats")
    resolved_once = scalar(
        catalog,
        """SELECT count(*) FROM (SELECT chat_id, count(*) FILTER (event_type = 'resolved') r,
                                        count(*) FILTER (event_type = 'reopened') o
                                 FROM chat_events GROUP BY org_id, chat_id)
           WHERE r = 1 AND o = 0""",
    )
    reopened = scalar(
        catalog, "SELECT count(DISTINCT chat_id) FROM chat_events WHERE event_type = 'reopened'"
    )
    rated = scalar(catalog, "SELECT count(DISTINCT chat_id) FROM ratings")
    assert resolved_once > chats * 0.3 and 0 < reopened < chats * 0.2 and 0 < rated < chats / 2
    causes = catalog.execute(
        "SELECT DISTINCT reopen_cause FROM chat_events WHERE event_type = 'reopened'"
    ).fetchall()
    assert {c for (c,) in causes} >= {"user_message", "agent_reopen", "bot"}
    shapes = dict(
        catalog.execute(
            """SELECT o.org_id,
                      count(b.weekday) FILTER (b.closes <= b.opens) * 100 + count(b.weekday)
               FROM organisations o LEFT JOIN business_hours b USING (org_id) GROUP BY o.org_id"""
        ).fetchall()
    )
    assert 0 in shapes.values()  # always open
    assert any(v >= 100 for v in shapes.values())  # a desk open across midnight
    assert scalar(catalog, "SELECT count(*) FROM ratings WHERE contains(comment, chr(10))") > 0
    assert scalar(catalog, "SELECT count(*) FROM ratings WHERE starts_with(comment, '=')") > 0
    assert scalar(catalog, "SELECT count(DISTINCT status) FROM member_status") == 3
