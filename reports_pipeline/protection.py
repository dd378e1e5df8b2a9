"""Protected files: the password of a file, sealed until the run that writes it.

A request may carry a `password`; its file is then a ZIP (AES-256) holding the export. The
password never enters the request document, the audit trail, Dagster or a log: the API
seals it with the service's key (AES-GCM), the job row keeps only that sealed text and
whether the file is protected, the run opens it to encrypt the file
(`reports_pipeline/formats/protected.py`), and every move to a final state erases it.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class PasswordUnavailable(Exception):
    """The sealed password is gone (erased) or was sealed with another key."""


class PasswordBox:
    """Seals and opens file passwords with one key (`REPORTS_FILE_PASSWORD_KEY`)."""

    def __init__(self, key: str) -> None:
        self._aead = AESGCM(hashlib.sha256(key.encode()).digest())

    def seal(self, password: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, password.encode(), None)
        return base64.b64encode(sealed).decode()

    def open(self, sealed: str | None) -> str:
        if not sealed:
            raise PasswordUnavailable()
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
        except InvalidTag:
            raise PasswordUnavailable() from None
