"""Start-up is safe with any number of API workers: migrations run once.

Before the migration lock, four uvicorn workers on a fresh PostgreSQL database all ran
the Alembic migrations at once and about half the starts failed (`UniqueViolation`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from devstack import BIN, REPO, free_port
from reports_pipeline.job_table import MIGRATION_LOCK, MIGRATIONS, make_engine, migrate
from tests.conftest import SECRET, fresh_database

WORKERS = 4
STARTS = 3  # the race itself is reproduced step by step below
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
def test_fresh_starts_with_four_workers_migrate_once(tmp_path: Path) -> None:
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


def test_a_second_migrator_waits_for_the_first_and_then_finds_nothing_to_do() -> None:
    """The start-up race, step by step: one process is mid-migration (its DDL not yet
    committed) when a second one starts migrating. Without the lock, the second would
    create the same tables and fail with UniqueViolation once the first commits."""
    with fresh_database("reports_migrate") as fresh:
        engine = make_engine(fresh.render_as_string(hide_password=False))
        second: dict[str, object] = {}

        def migrate_too() -> None:
            try:
                migrate(engine)
                second["done"] = True
            except Exception as error:  # noqa: BLE001 - the assertion below shows it
                second["error"] = error

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.connect() as first, first.begin():
            first.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            config.attributes["connection"] = first
            command.upgrade(config, "head")  # done, not yet committed
            waiting = threading.Thread(target=migrate_too)
            with engine.connect() as watcher:
                assert sessions_waiting(watcher) == 0  # read once before the second starts
                waiting.start()
                wait_until_another_session_waits(watcher)
            assert second == {}  # it waits for the first to commit
        waiting.join(timeout=60)
        assert second == {"done": True}, second
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert [v for (v,) in versions] == [HEAD]
        engine.dispose()


def sessions_waiting(conn: sa.Connection) -> int:
    """Sessions of this database waiting for a lock, as PostgreSQL sees them now. A
    transaction sees pg_stat_activity as it was at its first read, so each read is its own."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    waiting: int = conn.execute(query).scalar_one()
    conn.rollback()
    return waiting


def wait_until_another_session_waits(conn: sa.Connection, timeout_s: float = 30) -> None:
    """Until a session waits for a lock: with the migration lock, the second migrator
    waits for it; without, for the first one's uncommitted tables."""
    deadline = time.monotonic() + timeout_s
    while sessions_waiting(conn) == 0:
        assert time.monotonic() < deadline, "the second migrator never waited"
        time.sleep(0.05)
