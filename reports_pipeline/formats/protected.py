"""Protected files: any format's file inside a password-protected ZIP (AES-256)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import pyzipper
from pyzipper.zipfile_aes import AESZipInfo

from reports_pipeline.formats.base import ByteSink, Chunks

EXTENSION = ".zip"
CONTENT_TYPE = "application/zip"


def protect(
    chunks: Iterable[bytes], inner_name: str, password: str, *, compress: bool, tz: str = "UTC"
) -> Chunks:
    """The file as a ZIP holding it under `inner_name`, AES-256-encrypted (WinZip's AE-2, which
    7-Zip and WinZip open; plain `unzip` does not know AES), streamed as it is written. The
    file is dated when its writing starts, on `tz`'s clock: a ZIP's times have no zone, and
    the tools show them as they are."""
    sink = ByteSink()
    method = pyzipper.ZIP_DEFLATED if compress else pyzipper.ZIP_STORED
    member_info = AESZipInfo(inner_name, datetime.now(ZoneInfo(tz)).timetuple()[:6])
    member_info.compress_type = method
    with pyzipper.AESZipFile(sink, "w", compression=method, encryption=pyzipper.WZ_AES) as zipped:
        zipped.setpassword(password.encode())
        zipped.setencryption(pyzipper.WZ_AES, nbits=256)
        with zipped.open(member_info, "w", force_zip64=True) as member:
            for chunk in chunks:
                member.write(chunk)
                if data := sink.drain():
                    yield data
    yield sink.drain()
