"""The embedded object store behaves like S3 where it matters, and the service trusts only
the object its run stored (issue: storage a user can trust)."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from fastapi.testclient import TestClient

from devstack import Ports, Stack
from reports_pipeline.resources import ReplicaResource, ReportStoreResource
from reports_pipeline.storage import (
    COMPLETE_TIMEOUT_S,
    DOWNLOAD_TTL,
    ReportStore,
    StoredObject,
    make_s3_client,
)
from tests.conftest import Exporter, auth, s3_resource
from tests.test_api import BASE, TICKET, finish, job_table_of


def status_of(url: str, *, method: str = "GET", body: bytes | None = None) -> int:
    """The HTTP status a plain client (no AWS credentials) gets."""
    request = urllib.request.Request(url, method=method, data=body)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def kept(store: ReportStore) -> str:
    key = "reports/org_001/r1/chat-report.csv"
    store.upload_stream(key, [b"id,name\r\n1,Ada\r\n"], file_name="chat-report.csv")
    return key


def test_requests_without_credentials_are_refused(
    s3_server: Stack, store: ReportStore, kept: str
) -> None:
    bucket = f"{s3_server.s3_url}/{store.bucket}"
    assert status_of(f"{bucket}/{kept}") == 403  # unsigned GET
    assert status_of(bucket) == 403  # anonymous listing
    assert status_of(f"{bucket}?uploads") == 403  # anonymous listing of uploads
    assert status_of(f"{s3_server.s3_url}/") == 403  # anonymous list of buckets
    assert status_of(f"{bucket}/{kept}", method="PUT", body=b"=HYPERLINK()") == 403
    assert status_of(f"{bucket}/{kept}", method="DELETE") == 403
    assert store.client.get_object(Bucket=store.bucket, Key=kept)["Body"].read().startswith(b"id")


def test_a_request_signed_with_the_wrong_secret_is_refused(
    s3_server: Stack, store: ReportStore, kept: str
) -> None:
    key_id, _ = s3_server.s3_credentials

    def forger() -> Any:
        # A new connection for each request: nanio answers a refused upload without reading
        # its body, and the next request on that connection would read the leftover bytes.
        return make_s3_client(
            endpoint_url=s3_server.s3_url,
            region="us-east-1",
            access_key_id=key_id,
            secret_access_key="not-the-secret",  # noqa: S106
            attempts=1,
        )

    for call in (
        lambda: forger().get_object(Bucket=store.bucket, Key=kept),
        lambda: forger().put_object(Bucket=store.bucket, Key=kept, Body=b"=cmd|' /C calc'!A0"),
        lambda: forger().list_objects_v2(Bucket=store.bucket),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert store.client.get_object(Bucket=store.bucket, Key=kept)["Body"].read().startswith(b"id")


def test_a_presigned_link_opens_once_and_not_tampered_or_expired(
    store: ReportStore, kept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = store.presign_download(kept, "chat-report.csv").url
    assert status_of(link) == 200
    assert status_of(link.replace("r1/chat-report.csv", "r2/chat-report.csv")) == 403
    signature = link.rsplit("X-Amz-Signature=", 1)[1]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert status_of(link.replace(signature, flipped)) == 403
    # Signed as if it were two TTLs ago: its hour has passed.
    signed_at = datetime.now(UTC).replace(tzinfo=None) - 2 * DOWNLOAD_TTL
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_: signed_at)
    assert status_of(store.presign_download(kept, "chat-report.csv").url) == 403
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda *_: signed_at + timedelta(hours=1, minutes=59)
    )
    assert status_of(store.presign_download(kept, "chat-report.csv").url) == 200


def test_multipart_upload_abort_and_listing(store: ReportStore) -> None:
    key = "reports/org_001/r3/chat-report.csv"
    upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)["UploadId"]
    store.client.upload_part(
        Bucket=store.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x" * 100
    )
    listed = store.client.list_multipart_uploads(Bucket=store.bucket)["Uploads"]
    assert [u["UploadId"] for u in listed] == [upload_id]
    store.discard("reports/org_001/r3/")
    assert "Uploads" not in store.client.list_multipart_uploads(Bucket=store.bucket)


def test_discarding_one_reports_files_leaves_anothers_upload_alone(store: ReportStore) -> None:
    """The store may list every open upload whatever the prefix asked (nanio does): a
    canceled report's cleanup must not abort another export's upload in flight."""
    running = "reports/org_001/r5/chat-report.csv"
    upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=running)["UploadId"]
    store.discard("reports/org_001/r6/")
    part = store.client.upload_part(
        Bucket=store.bucket, Key=running, UploadId=upload_id, PartNumber=1, Body=b"a,b\r\n"
    )
    store.client.complete_multipart_upload(
        Bucket=store.bucket,
        Key=running,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert store.exists(running)


def test_an_upload_records_what_it_stored(store: ReportStore) -> None:
    chunks = [b"a" * (3 << 20), b"b" * (4 << 20)]
    small = ReportStore(store.client, store.bucket, part_size=5 << 20)
    stored = small.upload_stream("reports/org_001/r4/x.csv", chunks)
    body = store.client.get_object(Bucket=store.bucket, Key=stored.key)["Body"].read()
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert (stored.size_bytes, stored.parts) == (len(body), 2)
    assert small.mismatch(stored) is None


@pytest.mark.parametrize(
    "replacement",
    [b'=HYPERLINK("http://x")\r\n', b"a,c\r\n"],
    ids=["another size", "same size, other bytes"],
)
def test_a_file_changed_behind_the_services_back_is_not_handed_out(
    api: TestClient, replacement: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    finish(api, report_id)  # stores b"a,b\r\n"
    assert api.get(f"{BASE}/{report_id}/download", headers=auth()).status_code == 200
    report = job_table_of(api).get("org_001", report_id)
    assert report is not None and report.object_key is not None
    store = api.app.state.store  # type: ignore[attr-defined]
    store.client.put_object(Bucket=store.bucket, Key=report.object_key, Body=replacement)
    with caplog.at_level(logging.WARNING, logger="api.routes.reports"):
        answer = api.get(f"{BASE}/{report_id}/download", headers=auth())
    assert (answer.status_code, answer.json()["detail"]) == (410, "Report file not available")
    assert f"report {report_id}: download refused, its file changed" in caplog.text


def test_a_file_deleted_behind_the_services_back_is_gone(api: TestClient) -> None:
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    finish(api, report_id)
    report = job_table_of(api).get("org_001", report_id)
    assert report is not None and report.object_key is not None
    store = api.app.state.store  # type: ignore[attr-defined]
    store.delete(report.object_key)
    answer = api.get(f"{BASE}/{report_id}/download", headers=auth())
    assert (answer.status_code, answer.json()["detail"]) == (410, "Report file not available")


def test_an_export_reads_its_replica_from_s3(
    export: Exporter,
    replica: Path,
    s3_server: Stack,
    store: ReportStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same layout under s3://bucket/prefix gives byte for byte the same export."""
    for path in sorted(replica.rglob("*.parquet")):
        key = f"replica/{path.relative_to(replica).as_posix()}"
        store.client.upload_file(str(path), store.bucket, key)
    key_id, secret = s3_server.s3_credentials  # the AWS settings a run reads
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    on_s3 = ReplicaResource(
        root=f"s3://{store.bucket}/replica", s3_endpoint_url=s3_server.s3_url, slice_rows=500
    )
    filters = {"created": {"from": "2026-06-01", "to": "2026-07-31"}, "labels": {"exists": True}}
    for report_type, chosen in (("chat", filters), ("contact", {}), ("goal", {})):
        local = export(report_type, chosen)
        remote = export(report_type, chosen, replica=on_s3)
        assert local.report.row_count and remote.raw == local.raw, report_type


def test_a_stalled_store_gets_a_quick_answer_naming_it(api: TestClient, s3_server: Stack) -> None:
    """Readiness and the download answer in about the API's store timeout (2 s) while the
    store accepts connections but answers nothing; they hung for 30 s before."""
    report_id = api.post(BASE, json=TICKET, headers=auth()).json()["id"]
    finish(api, report_id)
    server = s3_server.processes["s3"]
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        ready = api.get("/readyz")
        download = api.get(f"{BASE}/{report_id}/download", headers=auth())
        waited = time.monotonic() - started
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert ready.status_code == 503
    assert ready.json()["checks"]["object_store"].startswith("unavailable: ")
    assert ready.json()["checks"]["job_table"] == "ok"
    assert (download.status_code, download.json()["detail"]) == (
        503,
        "Failed to generate download URL",
    )
    assert waited < 10, f"{waited:.1f}s for two answers with a 2 s store timeout"


def test_a_file_and_its_link_survive_a_restart_of_the_store(tmp_path: Path) -> None:
    """As `make up` restarts: the same home, port and key; the object is a file on disk."""
    stack = Stack(home=tmp_path, replica=tmp_path, ports=Ports.free())
    try:
        stack.start_s3()
        store = ReportStore(stack.s3_client(), stack.bucket)
        stored = store.upload_stream("reports/org_001/r7/chat-report.csv", [b"id\r\n1\r\n"])
        link = store.presign_download(stored.key, "chat-report.csv").url
        stack.stop_process("s3")
        stack.start_s3()
        assert ReportStore(stack.s3_client(), stack.bucket).mismatch(stored) is None
        assert status_of(link) == 200
    finally:
        stack.stop()


def test_an_upload_the_store_is_slow_to_put_together_still_completes(
    s3_server: Stack, store: ReportStore
) -> None:
    """S3 may take minutes to complete a large upload (the local server took over a minute
    for 11 GB, past the 60 s a request waits): the completing request waits for longer.
    Here the server stops answering for 3 s exactly when the completion is sent, against
    parts that wait 1 s."""
    server = s3_server.processes["s3"]
    resumes: list[threading.Timer] = []

    def pause_server(**_: Any) -> None:
        os.kill(server.pid, signal.SIGSTOP)
        resumes.append(threading.Timer(3, os.kill, (server.pid, signal.SIGCONT)))
        resumes[-1].start()

    def upload(name: str, completer: Any | None) -> StoredObject:
        waiting = completer or parts
        waiting.meta.events.register("before-send.s3.CompleteMultipartUpload", pause_server)
        uploads = ReportStore(parts, store.bucket, part_size=5 << 20, completer=completer)
        try:
            return uploads.upload_stream(f"reports/org_001/slow/{name}.csv", [b"x" * 100])
        finally:
            waiting.meta.events.unregister("before-send.s3.CompleteMultipartUpload", pause_server)
            for resume in resumes:
                resume.join()  # the server answers again
            os.kill(server.pid, signal.SIGCONT)

    parts = s3_server.s3_client(attempts=1, timeout_s=1)
    with pytest.raises(BotoCoreError):  # the parts' own wait is too short to complete
        upload("short", None)
    stored = upload("long", s3_server.s3_client(attempts=1, timeout_s=30))
    assert store.mismatch(stored) is None


def test_exports_complete_their_uploads_with_the_longer_wait(s3_server: Stack) -> None:
    store = ReportStoreResource(s3=s3_resource(s3_server), bucket="any").store()
    assert store.completer.meta.config.read_timeout == COMPLETE_TIMEOUT_S
    assert store.client.meta.config.read_timeout < COMPLETE_TIMEOUT_S


def test_uploads_complete_with_the_credentials_of_the_resources_profile(
    s3_server: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production keys often come from a named profile, not from the resource's config:
    the client that completes uploads signs with them as the parts' client does."""
    key, secret = s3_server.s3_credentials
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[exports]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    s3 = S3Resource(endpoint_url=s3_server.s3_url, region_name="us-east-1", profile_name="exports")
    store = ReportStoreResource(s3=s3, bucket=s3_server.bucket, part_size_mib=5).store()
    stored = store.upload_stream("reports/org_001/r9/x.csv", [b"a" * (6 << 20), b"b,c\r\n"])
    assert (stored.parts, store.mismatch(stored)) == (2, None)
