"""ZIP files around the format's files: a protected file (AES-256), and an export of
several sheets in a format whose file holds one (a ZIP of one file per sheet)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import pyzipper
from pyzipper.zipfile_aes import AESZipInfo

from reports_pipeline.formats.base import ByteSink, Chunks

EXTENSION = ".zip"
CONTENT_TYPE = "application/zip"

Entry = tuple[str, Iterable[bytes]]  # a file's name in the ZIP, and its bytes as they come


def protect(
    chunks: Iterable[bytes], inner_name: str, password: str, *, compress: bool, tz: str = "UTC"
) -> Chunks:
    """The file as a ZIP holding it under `inner_name`, AES-256-encrypted (WinZip's AE-2,
    which 7-Zip and WinZip open; plain `unzip` does not know AES)."""
    return zipped([(inner_name, chunks)], password, compress=compress, tz=tz)


def zipped(
    entries: Iterable[Entry], password: str | None, *, compress: bool, tz: str = "UTC"
) -> Chunks:
    """A ZIP of `entries`, each streamed as it is written, encrypted with AES-256 when a
    password is given. The files are dated when the ZIP is written, on `tz`'s clock: a
    ZIP's times have no zone, and the tools show them as they are."""
    sink = ByteSink()
    method = pyzipper.ZIP_DEFLATED if compress else pyzipper.ZIP_STORED
    stamp = datetime.now(ZoneInfo(tz)).timetuple()[:6]
    archive_class, info_class = (
        (pyzipper.AESZipFile, AESZipInfo)
        if password is not None
        else (pyzipper.ZipFile, pyzipper.ZipInfo)
    )
    with archive_class(sink, "w", compression=method) as archive:
        if password is not None:
            archive.setpassword(password.encode())
            archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, chunks in entries:
            info = info_class(name, stamp)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    if data := sink.drain():
                        yield data
    yield sink.drain()
