"""A start refused for its settings names the setting and the rule, never a value: the
error goes to logs that more people read than the secrets' owners."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from api.config import ApiSettings
from devstack import REPO

SHORT_SECRET = "short-jwt-secret-Qx7"  # noqa: S105 - refused for its length
LONG_SECRET = "a-long-enough-jwt-secret-of-40-characters-Zk9"  # noqa: S105
S3_SECRET = "s3-secret-value-Wm3"  # noqa: S105
DB_PASSWORD = "database-password-Pt5"  # noqa: S105
OWNER_PASSWORD = "owner-password-Hy8"  # noqa: S105
WEAK_FILE_KEY = "weak-file-key-Rb2"


def refused_start(module: str, **settings: str) -> str:
    """Import `module` as its server would, in production, and return what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTS_")}
    env |= {
        "REPORTS_ENV": "production",
        "REPORTS_S3_SECRET_ACCESS_KEY": S3_SECRET,
        "REPORTS_DATABASE_URL": f"postgresql://svc:{DB_PASSWORD}@127.0.0.1:5432/jobs",
        "REPORTS_DATABASE_OWNER_URL": f"postgresql://owner:{OWNER_PASSWORD}@127.0.0.1:5432/jobs",
        **settings,
    }
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, "the start should have been refused"
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "settings", "named"),
    [
        (
            "api.main",
            {"REPORTS_JWT_SECRET": SHORT_SECRET, "REPORTS_FILE_PASSWORD_KEY": LONG_SECRET},
            "REPORTS_JWT_SECRET",
        ),
        (
            "api.main",
            {"REPORTS_JWT_SECRET": LONG_SECRET, "REPORTS_FILE_PASSWORD_KEY": WEAK_FILE_KEY},
            "REPORTS_FILE_PASSWORD_KEY",
        ),
        (
            "reports_pipeline.definitions",
            {"REPORTS_FILE_PASSWORD_KEY": WEAK_FILE_KEY},
            "REPORTS_FILE_PASSWORD_KEY",
        ),
        (
            "api.main",
            {
                "REPORTS_JWT_SECRET": LONG_SECRET,
                "REPORTS_FILE_PASSWORD_KEY": LONG_SECRET,
                "REPORTS_DATABASE_OWNER_URL": f"postgresql://svc:{OWNER_PASSWORD}@db/jobs",
            },
            "REPORTS_DATABASE_OWNER_URL",
        ),
    ],
)
def test_a_refused_start_names_the_setting_and_prints_no_secret(
    module: str, settings: dict[str, str], named: str
) -> None:
    output = refused_start(module, **settings)
    assert named in output
    secrets = (SHORT_SECRET, LONG_SECRET, S3_SECRET, DB_PASSWORD, OWNER_PASSWORD, WEAK_FILE_KEY)
    for secret in secrets:
        for fragment in (secret, secret[-4:]):
            assert fragment not in output, f"{fragment!r} of a secret is in the output"


def test_the_settings_object_does_not_show_its_secrets() -> None:
    settings = ApiSettings(
        jwt_secret=LONG_SECRET,
        s3_secret_access_key=S3_SECRET,
        database_url=f"postgresql://svc:{DB_PASSWORD}@127.0.0.1:5432/jobs",
        database_owner_url=f"postgresql://owner:{OWNER_PASSWORD}@127.0.0.1:5432/jobs",
        file_password_key=WEAK_FILE_KEY,
    )
    shown = f"{settings!r} {settings!s}"
    assert "jwt_algorithms" in shown
    for secret in (LONG_SECRET, S3_SECRET, DB_PASSWORD, OWNER_PASSWORD, WEAK_FILE_KEY):
        assert secret not in shown
