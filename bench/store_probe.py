"""Probe an S3-compatible server for what the service relies on, and its throughput.

    python -m bench.store_probe http://127.0.0.1:9100 ACCESS_KEY SECRET [MiB]

Prints one line per check: unsigned and wrongly signed requests, presigned URLs (valid,
for another key, tampered, expired), multipart upload with per-part SHA-256, abort and
listing of uploads, then upload and download MB/s of one client (16 MiB parts). The
README's table of servers was made with it.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from reports_pipeline.storage import MIB, make_s3_client

BUCKET = "probe"


def plain(url: str, method: str = "GET", body: bytes | None = None) -> object:
    """The status a client without credentials gets."""
    request = urllib.request.Request(url, method=method, data=body)  # noqa: S310 - given
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return type(error).__name__


def attempt(call: Callable[[], object]) -> object:
    try:
        return call()
    except ClientError as error:
        return f"refused {error.response['Error'].get('Code', '?')}"


def probe(url: str, key: str, secret: str, mib: int) -> dict[str, object]:
    def client(with_secret: str = secret) -> Any:  # a new connection per check
        return make_s3_client(
            endpoint_url=url,
            region="us-east-1",
            access_key_id=key,
            secret_access_key=with_secret,
            attempts=1,
        )

    s3, out = client(), {}
    attempt(lambda: s3.create_bucket(Bucket=BUCKET))
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"hello")
    base = f"{url}/{BUCKET}"
    out["unsigned GET"] = plain(f"{base}/a.txt")
    out["anonymous listing"] = plain(base)
    out["unsigned PUT"] = plain(f"{base}/a.txt", "PUT", b"=cmd")
    out["wrong-secret GET"] = attempt(
        lambda: client("wrong" + secret).get_object(Bucket=BUCKET, Key="a.txt") and "accepted"
    )
    link = s3.generate_presigned_url("get_object", {"Bucket": BUCKET, "Key": "a.txt"}, 2)
    out["presigned GET"] = plain(link)
    out["presigned, other key"] = plain(link.replace("a.txt", "b.txt"))
    out["presigned, tampered"] = plain(link[:-1] + ("0" if link[-1] != "0" else "1"))
    time.sleep(3)  # the probe of someone else's server: its clock, not ours
    out["presigned, expired"] = plain(link)
    out["multipart"] = attempt(lambda: multipart(client()))
    out["abort"] = attempt(lambda: abort(client()))
    out["MB/s up, down"] = attempt(lambda: throughput(client(), mib))
    return out


def multipart(s3: Any) -> str:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp", ChecksumAlgorithm="SHA256")
    parts = []
    for number, body in enumerate((os.urandom(5 * MIB), b"tail"), start=1):
        answer = s3.upload_part(
            Bucket=BUCKET,
            Key="mp",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    listed = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    done = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="mp", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return f"listed {len(listed)}, checksum {done.get('ChecksumSHA256')}"


def abort(s3: Any) -> str:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="ab")["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key="ab", UploadId=upload_id, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="ab", UploadId=upload_id)
    open_ids = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    after = attempt(
        lambda: (
            s3.upload_part(Bucket=BUCKET, Key="ab", UploadId=upload_id, PartNumber=2, Body=b"y")
            and "accepted"
        )
    )
    return f"listed after abort: {upload_id in open_ids}; a part after abort: {after}"


def throughput(s3: Any, mib: int) -> str:
    chunk, count = os.urandom(16 * MIB), max(1, mib // 16)
    started = time.perf_counter()
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="big")["UploadId"]
    parts = []
    for number in range(1, count + 1):
        answer = s3.upload_part(
            Bucket=BUCKET, Key="big", UploadId=upload_id, PartNumber=number, Body=chunk
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="big", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    up = count * 16 / (time.perf_counter() - started)
    started, body, total = time.perf_counter(), s3.get_object(Bucket=BUCKET, Key="big"), 0
    while piece := body["Body"].read(8 * MIB):
        total += len(piece)
    down = total / MIB / (time.perf_counter() - started)
    s3.delete_object(Bucket=BUCKET, Key="big")
    return f"{up:.0f} / {down:.0f}"


def main() -> None:
    url, key, secret = sys.argv[1:4]
    mib = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    for check, outcome in probe(url, key, secret, mib).items():
        print(f"{check:24} {outcome}")


if __name__ == "__main__":
    main()
