"""The job table is defined once, as SQLAlchemy metadata beside the code that writes each
table; the migrations must build exactly that schema on both back ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from reports_pipeline.job_table import all_tables, make_engine, migrate
from tests.conftest import fresh_database

COMPARE = {"compare_type": True, "compare_server_default": True}


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with fresh_database("reports_schema") as url:
        engine = make_engine(url.render_as_string(hide_password=False))
        migrate(engine)
        yield engine
        engine.dispose()


def differences(engine: sa.Engine, metadata: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        found: list[Any] = compare_metadata(
            MigrationContext.configure(conn, opts=COMPARE), metadata
        )
    return found


def test_the_migrations_build_the_schema_the_code_defines(migrated: sa.Engine) -> None:
    assert differences(migrated, all_tables()) == []


def test_a_column_only_the_code_has_is_found(migrated: sa.Engine) -> None:
    code = sa.MetaData()
    for table in all_tables().sorted_tables:
        table.to_metadata(code)
    code.tables["reports"].append_column(sa.Column("colour", sa.Text))
    assert [d[0] for d in differences(migrated, code)] == ["add_column"]


def test_a_column_only_the_database_has_is_found(migrated: sa.Engine) -> None:
    with migrated.begin() as conn:
        conn.execute(sa.text("ALTER TABLE schedules ADD COLUMN colour TEXT"))
    assert [d[0] for d in differences(migrated, all_tables())] == ["remove_column"]
