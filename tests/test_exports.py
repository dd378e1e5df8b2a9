"""Real `export_report` runs against the generated replica and the real S3 server.

Expected values come from independent SQL over the replica's DuckDB catalog, so the
pipeline's Polars code is checked against a second engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from reports_pipeline.contract import run_config, run_tags
from reports_pipeline.definitions import defs
from reports_pipeline.job_table import Requester, Status
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.resources import JobTableResource, ReplicaResource, ReportStoreResource
from reports_pipeline.storage import PARTS_IN_FLIGHT, ReportStore
from tests.conftest import ORG, Exported, Exporter


def count(catalog: duckdb.DuckDBPyConnection, sql: str, *params: object) -> int:
    return int(catalog.execute(sql, [ORG, *params]).fetchall()[0][0])


def local(instant: datetime, tz: str) -> str:
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------- ticket


TICKET_HEADER = [
    "Ticket ID",
    "Chat ID",
    "Contact ID",
    "Contact Name",
    "Issue",
    "Sub-issue",
    "Priority",
    "Status",
    "Remarks",
    "Assigned To",
    "Created By",
    "Workflow",
    "Media Count",
    "Created At",
    "Updated At",
]


def test_ticket_export_matches_the_replica(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("ticket", tz="Asia/Kolkata")
    assert out.raw.startswith(b"\xef\xbb\xbf")
    assert out.header == TICKET_HEADER
    assert (
        len(out.rows)
        == out.report.row_count
        == count(catalog, "SELECT count(*) FROM tickets WHERE org_id = ?")
    )
    first = catalog.execute(
        """
        SELECT t.ticket_id, c.name, i.name, s.name, t.remarks, m.name, t.created_at
        FROM tickets t LEFT JOIN contacts c USING (contact_id)
        LEFT JOIN ticket_issues i ON i.issue_id = t.issue_id
        LEFT JOIN ticket_statuses s ON s.status_id = t.status_id
        LEFT JOIN team_members m ON m.member_id = t.creator_id
        WHERE t.org_id = ? ORDER BY t.created_at, t.ticket_id LIMIT 1""",
        [ORG],
    ).fetchall()[0]
    row = out.rows[0]
    assert row["Ticket ID"] == str(first[0])
    assert row["Issue"] == first[2] and row["Status"] == first[3]
    assert row["Created At"] == local(first[6], "Asia/Kolkata")
    ids = [int(r["Ticket ID"]) for r in out.rows]
    stamps = [r["Created At"] for r in out.rows]
    assert stamps == sorted(stamps) and len(set(ids)) == len(ids)


def test_ticket_filters_combine(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export(
        "ticket",
        {
            "priorities": {"values": ["high", "medium"]},
            "assignees": {"exists": False},
            "created": {"from": "2025-03-01", "to": "2025-12-31"},
        },
    )
    expected = count(
        catalog,
        """
        SELECT count(*) FROM tickets WHERE org_id = ? AND priority IN ('high', 'medium')
        AND assignee_id IS NULL AND created_at >= TIMESTAMPTZ '2025-03-01 00:00:00+00'
        AND created_at < TIMESTAMPTZ '2026-01-01 00:00:00+00'""",
    )
    assert expected > 0
    assert len(out.rows) == expected
    assert {r["Priority"] for r in out.rows} <= {"high", "medium"}
    assert all(r["Assigned To"] == "" for r in out.rows)


def test_ticket_search_is_plain_case_insensitive_text(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("ticket", {"search": "REFUND"})
    expected = count(
        catalog,
        """
        SELECT count(*) FROM tickets t LEFT JOIN contacts c USING (contact_id)
        LEFT JOIN ticket_issues i ON i.issue_id = t.issue_id
        LEFT JOIN ticket_issues s ON s.issue_id = t.sub_issue_id
        WHERE t.org_id = ? AND (contains(lower(t.remarks), 'refund')
           OR contains(lower(c.name), 'refund') OR contains(lower(c.phone), 'refund')
           OR contains(lower(i.name), 'refund') OR contains(lower(s.name), 'refund'))""",
    )
    assert 0 < len(out.rows) == expected
    pattern = export("ticket", {"search": ".*"}, org="org_002")
    assert pattern.rows == []  # a regex is just two characters here


def test_an_export_matching_nothing_completes_with_the_header_only(
    export: Callable[..., Exported],
) -> None:
    out = export("ticket", {"search": "no ticket says this"})
    assert out.report.row_count == 0
    assert out.raw == b"\xef\xbb\xbf" + ",".join(TICKET_HEADER).encode() + b"\r\n"


def test_ids_of_another_organisation_match_nothing(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    foreign = [
        r[0]
        for r in catalog.execute(
            "SELECT status_id FROM ticket_statuses WHERE org_id = 'org_002'"
        ).fetchall()
    ]
    assert export("ticket", {"statuses": {"values": foreign}}).rows == []


# ---------------------------------------------------------------------------- call_log


def test_call_log_export_with_durations(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export(
        "call_log",
        {
            "directions": {"values": ["inbound"]},
            "talk_duration": {"min": 60},
            "has_recording": True,
        },
    )
    assert len(out.header) == 22 and out.header[9:11] == ["Talk Duration", "Talk Duration (s)"]
    expected = count(
        catalog,
        """SELECT count(*) FROM call_logs WHERE org_id = ?
        AND direction = 'inbound' AND talk_seconds >= 60 AND recording_url IS NOT NULL""",
    )
    assert 0 < len(out.rows) == expected
    for row in out.rows:
        seconds = int(row["Talk Duration (s)"])
        h, m, s = (int(x) for x in row["Talk Duration"].split(":"))
        assert h * 3600 + m * 60 + s == seconds >= 60
        assert row["Recording Available"] == "true"
        if row["Caller Number"]:  # phones start with + and get the formula guard
            assert row["Caller Number"].startswith("'+")


# ---------------------------------------------------------------------------- contact


CONTACT_STATIC = [
    "Contact ID",
    "Name",
    "Phone",
    "Email",
    "Channel",
    "Template",
    "Created By",
    "Created At",
    "Updated At",
    "Chats Count",
    "Last Chat At",
]


def custom_field_labels(
    catalog: duckdb.DuckDBPyConnection, org: str = ORG, static: Sequence[str] = CONTACT_STATIC
) -> list[str]:
    """The custom-field headers the spec asks for: the label, or `label (custom field key)`
    where the label is a static column's or shared by two keys."""
    fields = catalog.execute(
        """
        SELECT f.key, min(f.label) FROM custom_fields f JOIN contact_templates t USING (template_id)
        WHERE f.org_id = ? AND f.active AND t.active GROUP BY f.key ORDER BY min(f.field_id)""",
        [org],
    ).fetchall()
    shared = Counter(label for _, label in fields)
    return [
        f"{label} (custom field {key})" if label in static or shared[label] > 1 else label
        for key, label in fields
    ]


def test_contact_export_adds_the_organisations_custom_fields(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("contact")
    labels = custom_field_labels(catalog)
    assert labels
    assert out.header[:11] == CONTACT_STATIC
    assert out.header[11:] == labels
    assert len(out.rows) == count(catalog, "SELECT count(*) FROM contacts WHERE org_id = ?")
    contact_id, chats = catalog.execute(
        """
        SELECT contact_id, count(*) FROM chat_contacts WHERE org_id = ?
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""",
        [ORG],
    ).fetchall()[0]
    row = next(r for r in out.rows if r["Contact ID"] == str(contact_id))
    assert row["Chats Count"] == str(chats)
    other = custom_field_labels(catalog, "org_002")
    assert other != labels  # organisations define different fields


def test_a_custom_field_named_like_a_column_never_replaces_it(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("contact")
    assert len(out.header) == len(set(out.header))
    for header in (
        "Email (custom field email_2)",
        "Channel (custom field preferred_channel)",
        "Company (custom field company)",
        "Company (custom field company_name)",
    ):
        assert header in out.header
    emails = dict(
        catalog.execute("SELECT contact_id, email FROM contacts WHERE org_id = ?", [ORG]).fetchall()
    )
    second = dict(
        catalog.execute(
            """SELECT contact_id, value FROM contact_field_values
               WHERE org_id = ? AND field_key = 'email_2'""",
            [ORG],
        ).fetchall()
    )
    assert second  # the collision is met with values
    for row in out.rows:
        contact_id = int(row["Contact ID"])
        assert row["Email"] == csv_cell(emails[contact_id])
        assert row["Email (custom field email_2)"] == csv_cell(second.get(contact_id))


def csv_cell(value: str | None) -> str:
    """What the CSV shows for a text value (the formula guard applied)."""
    if value is None:
        return ""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def test_contact_custom_field_predicates(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    key = "lifetime_value"
    out = export(
        "contact",
        {
            "custom_fields": [
                {"field": key, "op": "gte", "value": 25000},
                {"field": "no_such_key", "op": "exists", "value": False},
            ]
        },
        org="org_002",
    )
    # A contact's value shows under the organisation's column for that key, whichever
    # template it came through (warehouse/README.md, "contact").
    expected = int(
        catalog.execute(
            """SELECT count(*) FROM contact_field_values
        WHERE org_id = 'org_002' AND field_key = ? AND value::DOUBLE >= 25000""",
            [key],
        ).fetchall()[0][0]
    )
    assert 0 < len(out.rows) == expected


# ---------------------------------------------------------------------------- chat


def test_chat_export_columns_and_a_known_chat(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("chat", tz="America/New_York")
    n = len(custom_field_labels(catalog))
    labels = custom_field_labels(catalog, static=out.header[:11] + out.header[11 + n :])
    # The chat export has a Channel column but no plain Email one.
    assert {"Channel (custom field preferred_channel)", "Email"} <= set(labels)
    assert out.header[:11][-1] == "Contact Email"
    assert out.header[11 : 11 + len(labels)] == labels
    assert out.header[11 + len(labels)] == "Labels"
    assert out.header[-14:] == [
        "First Response Time (s)",
        "Average Response Time (s)",
        "Resolution Time (s)",
        "Interactions",
        "Reopened",
        "Reply Count",
        "Total Reply Time (s)",
        "Duration (s)",
        "First Response Time, business hours (s)",
        "Average Response Time, business hours (s)",
        "Resolution Time, business hours (s)",
        "Resolution Label",
        "CSAT Score",
        "CSAT Comment",
    ]
    assert len(out.rows) == count(catalog, "SELECT count(*) FROM chats WHERE org_id = ?")
    chat_id, notes = catalog.execute(
        """SELECT chat_id, count(*) FROM notes WHERE org_id = ?
        GROUP BY 1 HAVING count(*) > 5 ORDER BY 1 LIMIT 1""",
        [ORG],
    ).fetchall()[0]
    row = next(r for r in out.rows if r["Chat ID"] == str(chat_id))
    bodies = [
        b[:100]
        for (b,) in catalog.execute(
            "SELECT body FROM notes WHERE chat_id = ? ORDER BY created_at, note_id LIMIT 5",
            [chat_id],
        ).fetchall()
    ]
    summary = " | ".join(bodies)
    assert row["Notes Count"] == str(notes)
    assert row["Notes Summary"] in (summary, "'" + summary)
    first_user, first_reply = catalog.execute(
        """
        WITH m AS (SELECT * FROM messages WHERE chat_id = ? ORDER BY sent_at)
        SELECT (SELECT min(sent_at) FROM m WHERE sender = 'user'),
               (SELECT min(sent_at) FROM m WHERE sender <> 'user')""",
        [chat_id],
    ).fetchall()[0]
    if first_reply is not None:
        expected = (first_reply - first_user).total_seconds()
        assert float(row["First Response Time (s)"]) == expected


def test_chat_filters_on_flags_lists_and_custom_fields(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    (label_id,) = catalog.execute(
        """SELECT label_id FROM chat_labels WHERE org_id = ?
        GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""",
        [ORG],
    ).fetchall()[0]
    out = export(
        "chat",
        {"archived": False, "labels": {"values": [label_id]}, "assignees": {"exists": False}},
    )
    expected = count(
        catalog,
        """SELECT count(*) FROM chats c WHERE org_id = ?
        AND NOT archived AND chat_id IN (SELECT chat_id FROM chat_labels WHERE label_id = ?)
        AND chat_id NOT IN (SELECT chat_id FROM chat_assignees)""",
        label_id,
    )
    assert 0 < len(out.rows) == expected
    assert all(r["Archived"] == "false" and r["Assignee Name"] == "" for r in out.rows)


# ---------------------------------------------------------------------------- goal


def test_goal_export_discovers_its_shape(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    out = export("goal", slice_rows=300)
    latest = """SELECT arg_max(session_id, (started_at, session_id)) AS session_id
                FROM bot_sessions WHERE org_id = ? GROUP BY chat_id"""
    n = count(
        catalog,
        f"""SELECT max(n) FROM (SELECT count(e.event_id) n FROM ({latest}) l
        LEFT JOIN goal_events e USING (session_id) GROUP BY l.session_id)""",
    )
    trackers_at_1 = [
        r[0]
        for r in catalog.execute(
            f"""
        SELECT DISTINCT v.tracker_name FROM ({latest}) l JOIN goal_events e USING (session_id)
        JOIN tracker_values v USING (event_id) WHERE e.position = 1 ORDER BY 1""",
            [ORG],
        ).fetchall()
    ]
    assert out.header[:11] == [
        "Chat ID",
        "Chat Name",
        "Channel",
        "Contact ID",
        "Contact Name",
        "Journey ID",
        "Journey Name",
        "Session ID",
        "Session Started At",
        "Session Status",
        "Total Events",
    ]
    assert f"Goal {n} Name" in out.header and f"Goal {n + 1} Name" not in out.header
    goal_1 = ["Goal 1 Name", "Goal 1 Milestone", "Goal 1 Recorded At"]
    at_1 = [h for h in out.header if h.startswith("Goal 1 ") and h not in goal_1]
    # A tracker named like a goal column is qualified by its name (spec: unique columns).
    assert at_1 == [
        f"Goal 1 {t} (tracker {t})" if f"Goal 1 {t}" in goal_1 else f"Goal 1 {t}"
        for t in trackers_at_1
    ]
    assert {"Name", "Milestone", "Recorded At"} <= set(trackers_at_1)
    assert len(out.header) == len(set(out.header))
    named = [r for r in out.rows if r["Goal 1 Name (tracker Name)"]]
    assert named and all(r["Goal 1 Name"] != r["Goal 1 Name (tracker Name)"] for r in named)
    assert len(out.rows) == count(catalog, f"SELECT count(*) FROM ({latest})")


def test_goal_filters_by_goal_and_tracker(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    (goal_id,) = catalog.execute(
        """SELECT goal_id FROM goal_events WHERE org_id = ?
        GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""",
        [ORG],
    ).fetchall()[0]
    out = export(
        "goal",
        {
            "goal_ids": {"values": [goal_id]},
            "trackers": [{"field": "rating", "op": "exists", "value": True}],
        },
    )
    expected = count(
        catalog,
        """
        WITH l AS (SELECT arg_max(session_id, (started_at, session_id)) AS session_id
                   FROM bot_sessions WHERE org_id = ? GROUP BY chat_id)
        SELECT count(*) FROM l WHERE session_id IN (SELECT session_id FROM goal_events
                                                    WHERE goal_id = ?)
          AND session_id IN (SELECT session_id FROM tracker_values WHERE tracker_name = 'rating')
        """,
        goal_id,
    )
    assert 0 < len(out.rows) == expected


# ---------------------------------------------------------------------------- safety


@pytest.mark.parametrize("report_type", ["chat", "contact", "ticket", "call_log", "goal"])
def test_no_exported_cell_can_start_a_formula(
    export: Callable[..., Exported], report_type: str
) -> None:
    out = export(report_type, org="org_002")
    assert out.rows
    for row in out.rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def refuse_part_uploads(client: Any) -> None:
    """Inject a fault into a real client: every part upload is refused by the store."""

    def refuse(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "InternalError", "Message": "disk on fire"}}, "UploadPart"
        )

    client.meta.events.register("before-call.s3.UploadPart", refuse)


class FailingPartsStore(ReportStoreResource):
    """The real store and server, with every part upload refused (a fault injected)."""

    def store(self) -> ReportStore:
        real = super().store()
        refuse_part_uploads(real.client)
        return real


def test_a_failure_mid_upload_leaves_a_failed_report_and_no_object(
    export: Callable[..., Exported], store: ReportStore
) -> None:
    out = export("ticket", expect_success=False, store_class=FailingPartsStore)
    assert out.report.status is Status.FAILED
    assert out.report.error == (
        "The file store could not be reached, so the export was not saved. Please retry."
    )
    prefix = f"reports/{ORG}/{out.report.id}/"
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)["KeyCount"] == 0
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def _report_id_of(key: str) -> str:
    return key.split("/")[2]  # reports/{organisation}/{report id}/{file}


def test_a_zombie_run_finishing_after_its_report_failed_leaves_it_failed_and_no_file(
    export: Callable[..., Exported], store: ReportStore, export_job_table: JobTableResource
) -> None:
    """The reconciler failed the report (Dagster said the run was dead) while the run was
    in fact still uploading; when that run finishes it must not complete the report."""
    lifecycle = export_job_table.lifecycle

    class ReconcilerStrikesDuringUpload(ReportStoreResource):
        def store(self) -> ReportStore:
            real = super().store()
            upload = real.upload_stream

            def upload_then_lose_the_report(
                key: str, chunks: Iterator[bytes], **options: Any
            ) -> Any:
                result = upload(key, chunks, **options)
                report = export_job_table.table.get_by_id(_report_id_of(key))
                assert report is not None and report.dagster_run_id is not None
                assert lifecycle.fail(
                    report.id, "reconciler: run lost", run_id=report.dagster_run_id
                )
                return result

            real.upload_stream = upload_then_lose_the_report  # type: ignore[method-assign]
            return real

    out = export("ticket", expect_success=False, store_class=ReconcilerStrikesDuringUpload)
    assert (out.report.status, out.report.error) == (Status.FAILED, "reconciler: run lost")
    assert out.report.row_count is None and out.report.object_key is None
    prefix = f"reports/{ORG}/{out.report.id}/"
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)["KeyCount"] == 0


def test_a_cancel_while_the_run_writes_stops_the_stream_and_leaves_no_upload(
    export: Callable[..., Exported],
    store: ReportStore,
    export_job_table: JobTableResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reports_pipeline import export as export_module

    monkeypatch.setattr(export_module, "PROGRESS_EVERY_S", 0.0)  # check ownership per piece
    lifecycle, pulled = export_job_table.lifecycle, []

    class AdminCancelsMidStream(ReportStoreResource):
        def store(self) -> ReportStore:
            real = super().store()
            upload = real.upload_stream

            def upload_while_canceled(key: str, chunks: Iterator[bytes], **options: Any) -> Any:
                def watched() -> Iterator[bytes]:
                    for chunk in chunks:
                        pulled.append(len(chunk))
                        if len(pulled) == 2:
                            org, report_id = key.split("/")[1:3]
                            assert lifecycle.cancel(org, report_id, Requester("admin-2"))
                        yield chunk

                return upload(key, watched(), **options)

            real.upload_stream = upload_while_canceled  # type: ignore[method-assign]
            return real

    out = export("chat", expect_success=False, slice_rows=200, store_class=AdminCancelsMidStream)
    assert out.report.status is Status.CANCELED
    assert out.report.canceled_by == Requester("admin-2")
    assert out.report.error is None and out.report.row_count is None
    assert len(pulled) == 2  # the run stopped at its next progress check
    prefix = f"reports/{ORG}/{out.report.id}/"
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)["KeyCount"] == 0
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_a_second_run_of_a_report_does_nothing(
    export: Callable[..., Exported], export_job_table: JobTableResource, replica: Path
) -> None:
    """A launch answered late (or twice) creates another run: only the first claims."""
    out = export("ticket")
    again = defs.resolve_job_def("export_report").execute_in_process(
        run_config=run_config(out.report.id),
        tags=run_tags(out.report),
        resources={
            "replica": ReplicaResource(root=str(replica)),
            "store": ReportStoreResource(
                s3=S3Resource(endpoint_url="http://127.0.0.1:9", max_attempts=1), bucket="none"
            ),
            "job_table": export_job_table,
        },
    )
    assert again.success
    assert export_job_table.table.get_by_id(out.report.id) == out.report


@pytest.mark.parametrize(
    "bounds,tz",
    [
        ({"from": "0001-01-01", "to": "9999-12-31"}, "Pacific/Kiritimati"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "Etc/GMT+12"),
        ({"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59-14:00"}, "UTC"),
    ],
)
def test_bounds_at_the_edges_of_the_calendar_export_every_row(
    export: Callable[..., Exported],
    catalog: duckdb.DuckDBPyConnection,
    bounds: dict[str, str],
    tz: str,
) -> None:
    out = export("ticket", {"created": bounds}, tz=tz)
    assert len(out.rows) == count(catalog, "SELECT count(*) FROM tickets WHERE org_id = ?") > 0


def test_a_range_from_a_date_to_a_timestamp_exports_exactly_that_span(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    span = {"from": "2025-06-01", "to": "2025-06-03T12:00:00Z"}
    out = export("call_log", {"date": span}, tz="Asia/Kolkata")
    start = datetime(2025, 6, 1, tzinfo=ZoneInfo("Asia/Kolkata"))
    expected = count(
        catalog,
        "SELECT count(*) FROM call_logs WHERE org_id = ? AND started_at BETWEEN ? AND ?",
        start,
        datetime(2025, 6, 3, 12, tzinfo=UTC),
    )
    assert len(out.rows) == expected > 0


def test_an_id_the_organisation_does_not_have_matches_nothing(
    export: Callable[..., Exported],
) -> None:
    """Decided: accepted, and the export is empty (a header only). Ids come from the
    replica and may vanish between choosing and exporting (a deleted status), and a
    recurring export must keep working then; `GET …/options` lists the current ones."""
    out = export("ticket", {"statuses": {"values": [987_654_321]}})
    assert out.rows == [] and out.header == TICKET_HEADER


def test_timestamps_follow_the_requested_timezone(
    export: Callable[..., Exported], catalog: duckdb.DuckDBPyConnection
) -> None:
    utc = export("call_log", {"date": {"from": "2025-06-01", "to": "2025-06-01"}}, tz="UTC")
    kolkata = export(
        "call_log",
        {"date": {"from": "2025-06-01", "to": "2025-06-01"}},
        tz="Asia/Kolkata",
        org="org_002",
    )
    assert all(r["Started At"].startswith("2025-06-01") for r in utc.rows + kolkata.rows)
    start = datetime(2025, 6, 1, tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(UTC)
    expected = int(
        catalog.execute(
            """SELECT count(*) FROM call_logs WHERE org_id = 'org_002'
        AND started_at >= ? AND started_at < ? + INTERVAL 1 DAY""",
            [start, start],
        ).fetchall()[0][0]
    )
    assert len(kolkata.rows) == expected


def test_discarding_a_dead_runs_files_removes_open_uploads_and_finished_objects(
    store: ReportStore,
) -> None:
    """A worker killed while its last request is in flight can leave either behind."""
    dead, other = "reports/org_001/dead-report/", "reports/org_001/live-report/"
    store.upload_stream(dead + "finished.csv", iter([b"a,b\r\n"]))
    store.client.create_multipart_upload(Bucket=store.bucket, Key=dead + "open.csv")
    store.upload_stream(other + "kept.csv", iter([b"a,b\r\n"]))

    store.discard(dead)

    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=dead)["KeyCount"] == 0
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert store.exists(other + "kept.csv")


def test_parts_uploaded_side_by_side_reassemble_the_stream_in_order(store: ReportStore) -> None:
    small = ReportStore(store.client, store.bucket, part_size=5 * 1024 * 1024)
    chunks = [bytes([i]) * 1_500_000 for i in range(15)]  # ~22 MB: 5 parts, uneven chunks
    result = small.upload_stream("reports/org_001/r/ordered.csv", iter(chunks))
    body = store.client.get_object(Bucket=store.bucket, Key=result.key)["Body"].read()
    assert (result.parts, result.size_bytes) == (5, len(body))
    assert body == b"".join(chunks)


def test_a_refused_part_stops_the_stream_early_and_leaves_no_upload(store: ReportStore) -> None:
    refuse_part_uploads(store.client)
    small = ReportStore(store.client, store.bucket, part_size=5 * 1024 * 1024)
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(40):  # 40 parts, if the export were read to the end
            pulled += 1
            yield b"x" * (5 * 1024 * 1024)

    with pytest.raises(ClientError):
        small.upload_stream("reports/org_001/r/refused.csv", chunks())
    # The first refusal is raised once a part finishes: at most one more part is encoded
    # while the parts in flight fail, not the rest of the export.
    assert pulled <= PARTS_IN_FLIGHT + 1
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_an_empty_stream_is_an_empty_object(store: ReportStore) -> None:
    result = store.upload_stream("reports/org_001/r/empty.csv", iter([]))
    body = store.client.get_object(Bucket=store.bucket, Key=result.key)["Body"].read()
    assert (result.parts, result.size_bytes, body) == (1, 0, b"")


def test_the_run_publishes_how_many_rows_it_will_write_before_it_writes(
    export: Exporter, export_job_table: JobTableResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int | None, int]] = []
    real_progress = Lifecycle.progress

    def progress(self: Lifecycle, report_id: str, run_id: str, rows_written: int) -> bool:
        report = export_job_table.table.get_by_id(report_id)
        assert report is not None
        seen.append((report.rows_expected, rows_written))
        return real_progress(self, report_id, run_id, rows_written)

    from reports_pipeline import export as export_module

    monkeypatch.setattr(export_module, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(Lifecycle, "progress", progress)
    out = export("ticket", {"priorities": {"values": ["high"]}}, slice_rows=200)
    assert out.report.rows_expected == out.report.row_count == len(out.rows) > 0
    # Known from the first progress report on, while rows_written still grows.
    assert seen and all(expected == out.report.row_count for expected, _ in seen)
    assert seen[0][1] < out.report.row_count
    # A filter on related rows is decided after enrichment: the count comes at completion.
    labelled = export("chat", {"labels": {"exists": True}})
    assert labelled.report.rows_expected == labelled.report.row_count
