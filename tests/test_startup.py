"""Start-up is safe with any number of API workers: migrations run once.

Before the migration lock, four uvicorn workers on a fresh PostgreSQL database all ran
the Alembic migrations at once and about half the starts failed (`UniqueViolation`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from devstack import BIN, REPO, free_port
from reports_pipeline.job_table import MIGRATIONS
from tests.conftest import SECRET, fresh_database

WORKERS = 4
STARTS = 10
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def start_api(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REPORTS_ENV": "test",
        "REPORTS_JWT_SECRET": SECRET,
        "REPORTS_DATABASE_URL": database_url,
        "REPORTS_DAGSTER_URL": "http://127.0.0.1:9",
    }
    argv = [str(BIN / "uvicorn"), "api.main:app", "--port", str(free_port())]
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own argv
            [*argv, "--workers", str(WORKERS), "--host", "127.0.0.1"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_workers(process: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if text.count("Application startup complete.") >= WORKERS or "Traceback" in text:
            return text
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(f"{WORKERS} workers did not start in {timeout_s}s:\n{text}")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.e2e
def test_ten_fresh_starts_with_four_workers_migrate_once(tmp_path: Path) -> None:
    for attempt in range(STARTS):
        with fresh_database("reports_startup") as fresh:
            url = fresh.render_as_string(hide_password=False)
            log = tmp_path / f"api-{attempt}.log"
            process = start_api(url, log)
            try:
                text = wait_for_workers(process, log)
            finally:
                stop(process)
            assert "Traceback" not in text, text
            assert text.count("Application startup complete.") == WORKERS, text
            engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg2"))
            with engine.connect() as conn:
                versions = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert [v for (v,) in versions] == [HEAD]
            engine.dispose()
