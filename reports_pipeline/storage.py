"""The object store: streaming multipart uploads of export files and presigned downloads.

Works against any S3-compatible endpoint (the local nanio server, AWS S3). Download URLs
are signed with SigV4. Every upload records what was stored (size, ETag, the file's
SHA-256, and S3's own SHA-256 checksum where the store keeps one); a download link is only
signed for an object that still matches.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
PARTS_IN_FLIGHT = 2
DOWNLOAD_TTL = timedelta(hours=1)
# Putting a large upload together can take S3 minutes (AWS keeps the connection open
# meanwhile); the local server answers only when it is done, which took over a minute
# for an 11 GB file: longer than a request otherwise waits. Two attempts at most, so a
# store that stops answering fails the export within twenty minutes.
COMPLETE_TIMEOUT_S = 600.0
COMPLETE_ATTEMPTS = 2
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


# A removal inside a sensor's tick: each request waits this long, once.
CLEANUP_TIMEOUT_S = 5.0


class StoreUnavailable(Exception):
    """The store could not answer or sign right now."""


@dataclass(frozen=True)
class StoredObject:
    """What an upload stored, as the job table keeps it to check the object later."""

    key: str
    size_bytes: int
    sha256: str  # hex digest of the whole file, computed while it was streamed
    etag: str
    checksum: str | None  # S3's SHA-256 checksum of the object ("<base64>-<parts>"), if kept
    parts: int = 1


@dataclass(frozen=True)
class PresignedDownload:
    url: str
    expires_at: datetime


def make_s3_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    profile_name: str | None = None,
    use_ssl: bool = True,
    verify: str | bool | None = None,
    signed: bool = True,
    attempts: int = 5,
    timeout_s: float = 60,
) -> Any:
    """A boto3 S3 client that signs with SigV4 and makes up to `attempts` attempts of each
    request (transient faults are retried); each gives up after `timeout_s` unanswered.
    Without keys it finds credentials as boto3 does (in `profile_name`'s profile, if named);
    unless `signed`, it sends anonymous requests (a public bucket)."""
    config = Config(
        signature_version="s3v4" if signed else UNSIGNED,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        s3={"addressing_style": "path"},
        connect_timeout=min(5, timeout_s),
        read_timeout=timeout_s,
    )
    return boto3.session.Session(profile_name=profile_name).client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        use_ssl=use_ssl,
        verify=verify,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        aws_session_token=session_token or None,
        config=config,
    )


class ReportStore:
    """Export files in one bucket, under `reports/{organisation}/{report id}/{file name}`."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        completer: Any | None = None,
    ) -> None:
        """`completer`, if given, is the client that completes uploads: one that waits for
        an answer as long as S3 may take to put a large file together (`COMPLETE_TIMEOUT_S`)."""
        if part_size < 5 * MIB:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.client = client
        self.completer = completer or client
        self.bucket = bucket
        self.part_size = part_size

    @staticmethod
    def object_key(organisation_id: str, report_id: str, file_name: str) -> str:
        return f"reports/{organisation_id}/{report_id}/{file_name}"

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def upload_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str = CSV_CONTENT_TYPE,
        file_name: str | None = None,
    ) -> StoredObject:
        """Upload `chunks` as one object in parts of `part_size`; abort on any error.

        Parts go up in background threads (at most `PARTS_IN_FLIGHT` at once) while the
        caller keeps encoding. The object becomes visible only when the upload completes,
        so a failed export never leaves a partial file behind. Each part carries its
        SHA-256, which S3 checks on receipt and combines into the object's checksum.
        """
        extra = {"ContentDisposition": _attachment(file_name)} if file_name else {}
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            **extra,
        )["UploadId"]
        sent: list[Future[dict[str, Any]]] = []
        unchecked: set[Future[dict[str, Any]]] = set()
        whole = hashlib.sha256()
        size = 0
        try:
            with ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part") as pool:
                try:
                    for number, body in enumerate(_parts(chunks, self.part_size), start=1):
                        size += len(body)
                        whole.update(body)
                        _wait_for_room(unchecked)
                        sent.append(pool.submit(self._upload_part, key, upload_id, number, body))
                        unchecked.add(sent[-1])
                except BaseException:
                    for future in sent:
                        future.cancel()  # parts not yet started are not sent
                    raise
            parts = [future.result() for future in sent]
            answer = self.completer.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.abort(key, upload_id)
            raise
        return StoredObject(
            key=key,
            size_bytes=size,
            sha256=whole.hexdigest(),
            etag=answer["ETag"],
            checksum=answer.get("ChecksumSHA256"),
            parts=len(parts),
        )

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        answer = self.client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumSHA256=digest,
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if answer.get("ChecksumSHA256"):  # a store that keeps checksums wants them back
            part["ChecksumSHA256"] = answer["ChecksumSHA256"]
        return part

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError):
            log.warning("could not abort multipart upload %s of %s", upload_id, key, exc_info=True)

    def discard(self, prefix: str) -> None:
        """Abort every open upload and delete every object under `prefix`.

        For a report whose run died: a worker killed while its last request was in flight
        can leave an open upload, or even a completed object of a report that is `failed`.
        """
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        for upload in answer.get("Uploads", []):
            if upload["Key"].startswith(prefix):  # some stores ignore Prefix (nanio 0.1.7)
                self.abort(upload["Key"], upload["UploadId"])
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        for item in listing.get("Contents", []):
            self.delete(item["Key"])

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def mismatch(self, stored: StoredObject) -> str | None:
        """Why the object under `stored.key` is no longer what the upload stored (missing,
        another size, another ETag, another checksum), or None when it still matches."""
        head = self._head(stored.key)
        if head is None:
            return "object missing"
        if head["ContentLength"] != stored.size_bytes:
            return f"size {head['ContentLength']} instead of {stored.size_bytes}"
        if stored.etag and head.get("ETag") != stored.etag:
            return f"ETag {head.get('ETag')} instead of {stored.etag}"
        if stored.checksum and head.get("ChecksumSHA256") != stored.checksum:
            return f"SHA-256 checksum {head.get('ChecksumSHA256')} instead of {stored.checksum}"
        return None

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StoreUnavailable(str(error)) from error
        except BotoCoreError as error:
            raise StoreUnavailable(str(error)) from error
        return head

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def presign_download(
        self, key: str, file_name: str, *, content_type: str = CSV_CONTENT_TYPE
    ) -> PresignedDownload:
        """A GET URL valid for one hour that downloads as an attachment named `file_name`."""
        expires_at = datetime.now(UTC) + DOWNLOAD_TTL
        try:
            url = self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": _attachment(file_name),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=int(DOWNLOAD_TTL.total_seconds()),
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(str(error)) from error
        return PresignedDownload(url=url, expires_at=expires_at)


def _attachment(file_name: str) -> str:
    return f'attachment; filename="{file_name}"'


def _parts(chunks: Iterable[bytes], part_size: int) -> Iterator[bytes]:
    """Regroup chunks into parts of exactly `part_size` bytes, the last one shorter (an
    empty stream is one empty part: S3 needs at least one)."""
    buffer = bytearray()
    sent_any = False
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= part_size:
            with memoryview(buffer) as view:  # one copy of the part, not two
                part = bytes(view[:part_size])
            del buffer[:part_size]
            sent_any = True
            yield part
    if buffer or not sent_any:
        yield bytes(buffer)


def _wait_for_room(unchecked: set[Future[dict[str, Any]]]) -> None:
    """Block while `PARTS_IN_FLIGHT` parts are uploading; raise a failed part's error now
    rather than after encoding the rest of the export. Parts found finished are checked
    once and dropped from `unchecked`, so only the parts in flight remain in it."""
    if len(unchecked) >= PARTS_IN_FLIGHT:
        wait(unchecked, return_when=FIRST_COMPLETED)
    for future in [future for future in unchecked if future.done()]:
        unchecked.discard(future)
        error = future.exception()
        if error is not None:
            raise error
