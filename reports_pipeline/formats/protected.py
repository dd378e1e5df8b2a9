"""Protected files: any format's file inside a password-protected ZIP (AES-256)."""

from __future__ import annotations

from collections.abc import Iterable

import pyzipper

from reports_pipeline.formats.base import ByteSink, Chunks

EXTENSION = ".zip"
CONTENT_TYPE = "application/zip"


def protect(chunks: Iterable[bytes], inner_name: str, password: str, *, compress: bool) -> Chunks:
    """The file as a ZIP holding it under `inner_name`, AES-256-encrypted (WinZip's AE-2, which
    7-Zip and WinZip open; plain `unzip` does not know AES), streamed as it is written."""
    sink = ByteSink()
    method = pyzipper.ZIP_DEFLATED if compress else pyzipper.ZIP_STORED
    with pyzipper.AESZipFile(sink, "w", compression=method, encryption=pyzipper.WZ_AES) as zipped:
        zipped.setpassword(password.encode())
        zipped.setencryption(pyzipper.WZ_AES, nbits=256)
        with zipped.open(inner_name, "w", force_zip64=True) as member:
            for chunk in chunks:
                member.write(chunk)
                if data := sink.drain():
                    yield data
    yield sink.drain()
