"""The partner API through its real job table and S3 server (docs/api.md)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from reports_pipeline.job_table import JobTable
from reports_pipeline.lifecycle import Lifecycle
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.storage import ReportStore, StoredObject
from tests.conftest import auth

BASE = "/api/wp-crm/reports/org_001"
TICKET = {"type": "ticket", "filters": {"priorities": {"values": ["high"]}}, "timezone": "UTC"}


def job_table_of(api: TestClient) -> JobTable:
    return api.app.state.job_table  # type: ignore[attr-defined,no-any-return]


def lifecycle_of(api: TestClient) -> Lifecycle:
    return api.app.state.lifecycle  # type: ignore[attr-defined,no-any-return]


def finish(api: TestClient, report_id: str, *, upload: bytes | None = b"a,b\r\n") -> None:
    """Complete a report the way a run does: the object first, then the row."""
    lifecycle, store = lifecycle_of(api), api.app.state.store  # type: ignore[attr-defined]
    key = ReportStore.object_key("org_001", report_id, "ticket-report.csv")
    stored = StoredObject(key=key, size_bytes=5, sha256="", etag="", checksum=None)
    if upload is not None:
        stored = store.upload_stream(key, [upload], file_name="ticket-report.csv")
    assert lifecycle.claim(report_id, "run-x")
    assert lifecycle.complete(
        report_id, "run-x", row_count=1, file_name="ticket-report.csv", stored=stored
    )


def test_request_is_accepted_and_points_at_the_report(api: TestClient) -> None:
    answer = api.post(BASE, json=TICKET, headers=auth())
    assert answer.status_code == 202
    body = answer.json()
    assert answer.headers["Location"] == f"{BASE}/{body['id']}"
    assert body["status"] == "pending"
    assert body["link"] == {"rel": "report", "href": f"{BASE}/{body['id']}"}
    report = api.get(f"{BASE}/{body['id']}", headers=auth()).json()
    assert report["filters"] == {"priorities": {"values": ["high"]}}
    assert report["requested_by"] == {"id": "u-1", "email": "u-1@example.com", "name": "User u-1"}
    assert report["created_at"].endswith("Z")


def test_second_request_while_generating_is_refused(api: TestClient) -> None:
    first = api.post(BASE, json=TICKET, headers=auth()).json()
    again = api.post(BASE, json=TICKET, headers=auth())
    assert again.status_code == 409
    assert again.json() == {
        "detail": "A report of this type is already being generated",
        "code": "report_in_progress",
        "existing_report_id": first["id"],
    }


def test_second_request_within_five_minutes_of_completion_is_refused(api: TestClient) -> None:
    first = api.post(BASE, json=TICKET, headers=auth()).json()
    finish(api, first["id"])
    again = api.post(BASE, json=TICKET, headers=auth())
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "A report was completed recently. Please wait before requesting another."
    )
    assert again.json()["existing_report_id"] == first["id"]
    assert 0 < int(again.headers["Retry-After"]) <= 300


def test_fifty_simultaneous_posts_give_one_202(api: TestClient) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(
            pool.map(lambda _: api.post(BASE, json=TICKET, headers=auth()).status_code, range(50))
        )
    assert sorted(codes) == [202] + [409] * 49


@pytest.mark.parametrize(
    "body,field",
    [
        ({"type": "ticket", "filters": {"nope": True}}, ["body", "ticket", "filters", "nope"]),
        ({"type": "invoice"}, ["body"]),
        ({"type": "ticket", "timezone": "Mars/Olympus"}, ["body", "ticket", "timezone"]),
        (
            {"type": "ticket", "filters": {"created": {"from": "2026-02-01", "to": "2026-01-01"}}},
            ["body", "ticket", "filters", "created"],
        ),
        (
            {"type": "ticket", "filters": {"priorities": {"values": ["urgent"]}}},
            ["body", "ticket", "filters", "priorities", "values", 0],
        ),
        (
            {"type": "ticket", "filters": {"statuses": {"values": [1], "exists": True}}},
            ["body", "ticket", "filters", "statuses"],
        ),
        ({"type": "ticket", "extra": 1}, ["body", "ticket", "extra"]),
        ({"type": "ticket", "csv": {"delimiter": ":"}}, ["body", "ticket", "csv", "delimiter"]),
        ({"type": "ticket", "csv": {"quote": "'"}}, ["body", "ticket", "csv", "quote"]),
        ({"type": "ticket", "format": "xlsx", "csv": {}}, ["body", "ticket"]),
        ({"type": "ticket", "related": ["contacts"]}, ["body", "ticket"]),
        ({"type": "chat", "related": ["tickets"]}, ["body", "chat", "related", 0]),
        ({"type": "chat", "related": ["labels", "labels"]}, ["body", "chat", "related"]),
        ({"type": "chat", "related": []}, ["body", "chat", "related"]),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(api: TestClient, body: dict, field: list) -> None:
    answer = api.post(BASE, json=body, headers=auth())
    assert answer.status_code == 422
    payload = answer.json()
    assert payload["code"] == "validation_error"
    assert any(e["loc"][: len(field)] == field for e in payload["detail"]), payload


def test_list_is_newest_first_filtered_and_paginated(api: TestClient) -> None:
    ids = [
        api.post(BASE, json={"type": t}, headers=auth()).json()["id"]
        for t in ("chat", "contact", "ticket")
    ]
    page = api.get(BASE, params={"limit": 2}, headers=auth()).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]
    rest = api.get(BASE, params={"limit": 2, "cursor": page["next_cursor"]}, headers=auth()).json()
    assert [r["id"] for r in rest["items"]] == ids[:1]
    assert rest["next_cursor"] is None
    only = api.get(BASE, params={"type": "contact"}, headers=auth()).json()
    assert [r["type"] for r in only["items"]] == ["contact"]
    assert api.get(BASE, params={"limit": 101}, headers=auth()).status_code == 422
    assert api.get(BASE, params={"cursor": "garbage"}, headers=auth()).status_code == 422


def test_download_answers_every_state_with_the_spec_message(api: TestClient) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    url = f"{BASE}/{report_id}/download"
    pending = api.get(url, headers=auth())
    assert (pending.status_code, pending.json()["detail"]) == (
        409,
        "Report is still being generated. Please wait.",
    )
    finish(api, report_id)
    ok = api.get(url, headers=auth())
    assert ok.status_code == 200
    assert ok.json()["file_name"] == "ticket-report.csv"
    fetched = httpx.get(ok.json()["url"])
    assert fetched.status_code == 200
    assert fetched.content == b"a,b\r\n"
    assert fetched.headers["content-disposition"] == 'attachment; filename="ticket-report.csv"'
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in ok.json()["url"]
    assert "X-Amz-Expires=3600" in ok.json()["url"]
    store = api.app.state.store  # type: ignore[attr-defined]
    store.delete(job_table_of(api).get("org_001", report_id).object_key)  # type: ignore[union-attr]
    gone = api.get(url, headers=auth())
    assert (gone.status_code, gone.json()["detail"]) == (410, "Report file not available")


def test_download_of_a_failed_report_says_why(api: TestClient) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    lifecycle_of(api).fail(report_id, "The CRM replica could not be read.", run_id=None)
    answer = api.get(f"{BASE}/{report_id}/download", headers=auth())
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "Report generation failed",
        "code": "report_failed",
        "error": "The CRM replica could not be read.",
    }


def test_download_is_503_when_the_store_cannot_answer(api: TestClient) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    finish(api, report_id)
    store = api.app.state.store  # type: ignore[attr-defined]
    from reports_pipeline.storage import make_s3_client

    healthy = store.client
    store.client = make_s3_client(
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id="x",
        secret_access_key="x",
        attempts=1,
    )
    try:
        answer = api.get(f"{BASE}/{report_id}/download", headers=auth())
    finally:
        store.client = healthy
    assert (answer.status_code, answer.json()["detail"]) == (503, "Failed to generate download URL")


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("post", ""),
        ("get", ""),
        ("get", "/{id}"),
        ("get", "/{id}/download"),
        ("post", "/{id}/cancel"),
    ],
)
def test_another_organisation_gets_404_on_every_endpoint(
    api: TestClient, method: str, suffix: str
) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    path = BASE + suffix.format(id=report_id)
    outsider = auth(org="org_002")
    answer = api.request(
        method.upper(), path, json=TICKET if suffix == "" else None, headers=outsider
    )
    assert (answer.status_code, answer.json()["detail"]) == (404, "Report not found")
    own_org_path = f"/api/wp-crm/reports/org_002/{report_id}"
    if suffix:
        tail = suffix.removeprefix("/{id}")
        answer = api.request(method.upper(), own_org_path + tail, headers=outsider)
        assert (answer.status_code, answer.json()["detail"]) == (404, "Report not found")
    assert api.get(f"{BASE}/{report_id}", headers=auth()).json()["status"] == "pending"


@pytest.mark.parametrize("suffix", ["", "/download"])
def test_another_organisations_report_is_indistinguishable_from_a_missing_one(
    api: TestClient, suffix: str
) -> None:
    """Same status, body and headers: an outsider learns nothing about what exists.
    (Both answers come from the same lookup by id and organisation.)"""
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    outsider = auth(org="org_002")
    theirs = api.get(f"/api/wp-crm/reports/org_002/{report_id}{suffix}", headers=outsider)
    missing = api.get(f"/api/wp-crm/reports/org_002/{uuid.uuid4()}{suffix}", headers=outsider)
    assert theirs.status_code == missing.status_code == 404
    assert (
        theirs.json()
        == missing.json()
        == {"detail": "Report not found", "code": "report_not_found"}
    )
    assert sorted(theirs.headers.keys()) == sorted(missing.headers.keys())


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("post", ""),
        ("get", ""),
        ("get", "/x"),
        ("get", "/x/download"),
        ("post", "/x/cancel"),
    ],
)
def test_users_are_forbidden_and_strangers_unauthenticated(
    api: TestClient, method: str, suffix: str
) -> None:
    path = BASE + suffix
    body = TICKET if suffix == "" else None
    user = api.request(method.upper(), path, json=body, headers=auth(role="user"))
    assert (user.status_code, user.json()["detail"]) == (
        403,
        "Only Admin or Owner can access reports",
    )
    anon = api.request(method.upper(), path, json=body)
    assert (anon.status_code, anon.json()["detail"]) == (401, "Not authenticated")
    owner = api.request(method.upper(), path, json=body, headers=auth(role="owner"))
    assert owner.status_code in (200, 202, 404)


def test_cancel_stops_a_pending_export_and_frees_the_rate_limit(api: TestClient) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    answer = api.post(f"{BASE}/{report_id}/cancel", headers=auth(sub="u-2"))
    assert answer.status_code == 200
    canceled = answer.json()
    assert canceled["status"] == "canceled"
    assert canceled["canceled_by"] == {"id": "u-2", "email": "u-2@example.com", "name": "User u-2"}
    assert canceled["canceled_at"].endswith("Z")
    assert api.get(f"{BASE}/{report_id}", headers=auth()).json() == canceled
    listed = api.get(BASE, params={"status": "canceled"}, headers=auth()).json()["items"]
    assert [r["id"] for r in listed] == [report_id]
    gone = api.get(f"{BASE}/{report_id}/download", headers=auth())
    assert (gone.status_code, gone.json()["detail"]) == (410, "Report file not available")
    assert api.post(BASE, json=TICKET, headers=auth()).status_code == 202


@pytest.mark.parametrize("ending", ["completed", "failed", "canceled"])
def test_cancel_of_a_finished_export_is_refused(api: TestClient, ending: str) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    if ending == "completed":
        finish(api, report_id)
    elif ending == "failed":
        lifecycle_of(api).fail(report_id, "The CRM replica could not be read.", run_id=None)
    else:
        assert api.post(f"{BASE}/{report_id}/cancel", headers=auth()).status_code == 200
    before = api.get(f"{BASE}/{report_id}", headers=auth()).json()
    answer = api.post(f"{BASE}/{report_id}/cancel", headers=auth())
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "Report has already finished",
        "code": "report_already_finished",
    }
    assert api.get(f"{BASE}/{report_id}", headers=auth()).json() == before


def test_the_report_shows_its_format_and_purpose(api: TestClient) -> None:
    body = {**TICKET, "purpose": "Quarterly audit of high-priority tickets"}
    report_id = api.post(BASE, json=body, headers=auth()).json()["id"]
    report = api.get(f"{BASE}/{report_id}", headers=auth()).json()
    assert (report["format"], report["purpose"]) == ("csv", body["purpose"])
    too_long = api.post(BASE, json={**TICKET, "purpose": "x" * 501}, headers=auth())
    assert too_long.status_code == 422
    assert api.post(BASE, json={**TICKET, "format": "pdf"}, headers=auth()).status_code == 422


def test_a_huge_body_is_refused_before_it_is_parsed(api: TestClient) -> None:
    body = {"type": "chat", "filters": {"search": "x" * 100_000}}
    answer = api.post(BASE, json=body, headers=auth())
    assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")


def test_openapi_documents_the_contract(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    post = spec["paths"]["/api/wp-crm/reports/{organisationId}"]["post"]
    assert post["tags"] == ["Reports"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(REPORT_TYPES)  # one example per type
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    cancel = spec["paths"]["/api/wp-crm/reports/{organisationId}/{reportId}/cancel"]["post"]
    assert {"200", "404", "409"} <= set(cancel["responses"])
    assert "canceled" in spec["components"]["schemas"]["Status"]["enum"]
    public = spec["components"]["schemas"]["ReportPublic"]["properties"]
    assert {"canceled_at", "canceled_by", "format", "purpose"} <= set(public)


def test_filter_options_list_the_organisations_values(api: TestClient) -> None:
    options = api.get(f"{BASE}/options", headers=auth()).json()
    assert {
        "members",
        "channels",
        "labels",
        "ticket_statuses",
        "goals",
        "custom_fields",
        "trackers",
    } <= set(options)
    assert all({"id", "name"} == set(o) for o in options["members"])
    (organisation,) = options["organisation"]  # its zone is the page's default
    assert organisation["id"] in api.get(f"{BASE}/types", headers=auth()).json()["timezones"]
    for source in ("issues", "sub_issues", "ticket_statuses", "goals", "channels"):
        names = [o["name"] for o in options[source]]
        assert len(set(names)) == len(names), f"{source} has entries an admin cannot tell apart"
    assert api.get(f"{BASE}/options", headers=auth(role="user")).status_code == 403
    assert api.get(f"{BASE}/options", headers=auth(org="org_002")).status_code == 404


def test_a_file_password_is_never_shown_stored_in_clear_or_logged(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-file-password"
    body = {"type": "ticket", "format": "parquet", "password": secret}
    created = api.post(BASE, json=body, headers=auth())
    assert created.status_code == 202, created.text
    report_id = created.json()["id"]
    report = api.get(f"{BASE}/{report_id}", headers=auth()).json()
    assert report["password_protected"] is True and report["format"] == "parquet"
    answers = [
        created.text,
        api.get(f"{BASE}/{report_id}", headers=auth()).text,
        api.get(BASE, headers=auth()).text,
        api.get(f"{BASE}/audit", headers=auth()).text,
    ]
    row = job_table_of(api).get("org_001", report_id)
    assert row is not None and row.sealed_password and secret not in row.sealed_password
    assert secret not in repr(row) and secret not in str(row.request)
    short = api.post(BASE, json={"type": "chat", "password": "short"}, headers=auth())
    assert short.status_code == 422 and short.json()["detail"][0]["loc"][-1] == "password"
    assert all(secret not in text for text in [*answers, short.text, caplog.text])
    canceled = api.post(f"{BASE}/{report_id}/cancel", headers=auth())
    assert canceled.status_code == 200
    after = job_table_of(api).get("org_001", report_id)
    assert after is not None and after.sealed_password is None  # erased once it is final


def count_of(api: TestClient, body: dict, **claims: str) -> httpx.Response:
    return api.post(f"{BASE}/count", json=body, headers=auth(**claims))


def test_a_count_says_how_many_rows_an_export_would_hold(api: TestClient) -> None:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    with ReplicaReader(settings.replica, "org_001") as reader:
        high = reader.query("tickets", "SELECT count(*) AS n FROM tickets WHERE priority = 'high'")
        chats = reader.count("chats")
    answer = count_of(api, TICKET)
    assert answer.status_code == 200
    assert answer.json() == {"type": "ticket", "rows": high["n"][0], "exact": True}
    # Labels are decided while the export runs: an upper bound, never above every chat.
    labelled = count_of(api, {"type": "chat", "filters": {"labels": {"exists": True}}}).json()
    assert labelled["exact"] is False and 0 < labelled["rows"] <= chats
    assert count_of(api, {"type": "message"}).json() == {
        "type": "message",
        "rows": None,
        "exact": False,
    }
    assert api.get(BASE, headers=auth()).json()["items"] == []  # counting requests nothing


def test_a_count_takes_only_the_selection_and_the_admins_own_organisation(
    api: TestClient,
) -> None:
    assert count_of(api, {**TICKET, "format": "csv"}).status_code == 422
    assert count_of(api, {"type": "ticket", "filters": {"nope": 1}}).status_code == 422
    assert count_of(api, {"type": "invoice"}).status_code == 422
    late_first = {
        "type": "ticket",
        "filters": {"created": {"from": "2026-02-01", "to": "2026-01-01"}},
    }
    assert count_of(api, late_first).status_code == 422
    assert count_of(api, TICKET, role="user").status_code == 403
    assert count_of(api, TICKET, org="org_002").status_code == 404


def test_a_schedule_keeps_its_csv_dialect(api: TestClient) -> None:
    dialect = {"delimiter": "\t", "bom": False, "line_ending": "lf"}
    body = {"name": "Tickets for the loader", "cron": "0 6 * * *", **TICKET, "csv": dialect}
    made = api.post(f"{BASE}/schedules", json=body, headers=auth())
    assert made.status_code == 201, made.text
    assert made.json()["csv"] == dialect
    wrong = api.post(f"{BASE}/schedules", json=body | {"format": "parquet"}, headers=auth())
    assert wrong.status_code == 422, wrong.text


def test_a_schedule_keeps_its_related_sheets_for_chats_only(api: TestClient) -> None:
    body = {"name": "Chats with their messages", "cron": "0 6 * * 1", "type": "chat"}
    made = api.post(f"{BASE}/schedules", json=body | {"related": ["messages"]}, headers=auth())
    assert made.status_code == 201, made.text
    assert made.json()["related"] == ["messages"]
    wrong = api.post(
        f"{BASE}/schedules",
        json={**TICKET, "name": "x", "cron": "0 6 * * *", "related": ["labels"]},
        headers=auth(),
    )
    assert wrong.status_code == 422, wrong.text


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Europe/Kiev", "Europe/Kyiv"),
        ("US/Eastern", "America/New_York"),
    ],
)
def test_a_legacy_zone_name_is_recorded_by_its_canonical_name(
    api: TestClient, given: str, recorded: str
) -> None:
    made = api.post(BASE, json=TICKET | {"timezone": given}, headers=auth())
    assert made.status_code == 202, made.text
    report = api.get(f"{BASE}/{made.json()['id']}", headers=auth()).json()
    assert report["timezone"] == recorded
    # Its own organisation's zones are offered by their canonical names only.
    zones = api.get(f"{BASE}/types", headers=auth()).json()["timezones"]
    assert recorded in zones and given not in zones and zones[0] == "UTC"
