"""Invariants of the generated replica that the exports rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.catalog import open_catalog
from warehouse.generate import ReplicaSpec, generate
from warehouse.tables import TABLES

FOREIGN_KEYS = [
    ("chats", "channel_id", "channels", "channel_id"),
    ("chat_contacts", "chat_id", "chats", "chat_id"),
    ("chat_contacts", "contact_id", "contacts", "contact_id"),
    ("chat_assignees", "member_id", "team_members", "member_id"),
    ("chat_teams", "team_id", "teams", "team_id"),
    ("chat_labels", "label_id", "labels", "label_id"),
    ("notes", "chat_id", "chats", "chat_id"),
    ("notes", "author_id", "team_members", "member_id"),
    ("messages", "chat_id", "chats", "chat_id"),
    ("messages", "member_id", "team_members", "member_id"),
    ("contacts", "template_id", "contact_templates", "template_id"),
    ("contacts", "created_by", "team_members", "member_id"),
    ("contact_field_values", "contact_id", "contacts", "contact_id"),
    ("custom_fields", "template_id", "contact_templates", "template_id"),
    ("tickets", "chat_id", "chats", "chat_id"),
    ("tickets", "contact_id", "contacts", "contact_id"),
    ("tickets", "issue_id", "ticket_issues", "issue_id"),
    ("tickets", "sub_issue_id", "ticket_issues", "issue_id"),
    ("tickets", "status_id", "ticket_statuses", "status_id"),
    ("tickets", "assignee_id", "team_members", "member_id"),
    ("tickets", "workflow_id", "workflows", "workflow_id"),
    ("call_logs", "agent_id", "team_members", "member_id"),
    ("call_logs", "contact_id", "contacts", "contact_id"),
    ("call_logs", "chat_id", "chats", "chat_id"),
    ("call_logs", "account_id", "telephony_accounts", "account_id"),
    ("bot_sessions", "chat_id", "chats", "chat_id"),
    ("bot_sessions", "journey_id", "bot_journeys", "journey_id"),
    ("goal_events", "session_id", "bot_sessions", "session_id"),
    ("goal_events", "goal_id", "goals", "goal_id"),
    ("tracker_values", "event_id", "goal_events", "event_id"),
]

PRIMARY_KEYS = {
    "organisations": "org_id",
    "team_members": "member_id",
    "channels": "channel_id",
    "contacts": "contact_id",
    "chats": "chat_id",
    "notes": "note_id",
    "messages": "message_id",
    "tickets": "ticket_id",
    "call_logs": "call_id",
    "bot_sessions": "session_id",
    "goal_events": "event_id",
    "ticket_issues": "issue_id",
}


@pytest.fixture(scope="module")
def catalog(replica: Path) -> duckdb.DuckDBPyConnection:
    return open_catalog(replica)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0])


def test_every_table_has_rows_in_the_catalog(catalog: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        assert scalar(catalog, f"SELECT count(*) FROM {table}") > 0, table


@pytest.mark.parametrize("table,key", PRIMARY_KEYS.items())
def test_ids_are_unique(catalog: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    dupes = scalar(catalog, f"SELECT count(*) - count(DISTINCT {key}) FROM {table}")
    assert dupes == 0


@pytest.mark.parametrize("child,fk,parent,pk", FOREIGN_KEYS)
def test_every_foreign_key_resolves_inside_its_organisation(
    catalog: duckdb.DuckDBPyConnection, child: str, fk: str, parent: str, pk: str
) -> None:
    orphans = scalar(
        catalog,
        f"SELECT count(*) FROM {child} c WHERE c.{fk} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {parent} p WHERE p.{pk} = c.{fk} AND p.org_id = c.org_id)",
    )
    assert orphans == 0


def test_every_chat_has_at_most_one_primary_contact_and_assignee(
    catalog: duckdb.DuckDBPyConnection,
) -> None:
    for table in ("chat_contacts", "chat_assignees"):
        worst = scalar(
            catalog,
            f"SELECT max(n) FROM (SELECT count(*) FILTER (WHERE is_primary)"
            f" n FROM {table} GROUP BY chat_id)",
        )
        assert worst == 1, table


def test_message_times_are_ordered_and_bound_the_chat(catalog: duckdb.DuckDBPyConnection) -> None:
    out_of_order = scalar(
        catalog,
        """
        SELECT count(*) FROM (
            SELECT sent_at < lag(sent_at) OVER (PARTITION BY chat_id ORDER BY message_id) AS back
            FROM messages) WHERE back""",
    )
    assert out_of_order == 0
    wrong_last = scalar(
        catalog,
        """
        SELECT count(*) FROM chats c JOIN (SELECT chat_id, max(sent_at) m, min(sent_at) f
                                           FROM messages GROUP BY chat_id) x USING (chat_id)
        WHERE c.last_message_at <> x.m OR x.f < c.created_at""",
    )
    assert wrong_last == 0


def test_goal_event_positions_are_contiguous_from_one(catalog: duckdb.DuckDBPyConnection) -> None:
    gaps = scalar(
        catalog,
        """
        SELECT count(*) FROM (SELECT session_id, min(position) lo, max(position) hi, count(*) n
                              FROM goal_events GROUP BY session_id)
        WHERE lo <> 1 OR hi <> n""",
    )
    assert gaps == 0


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
