"""On PostgreSQL the service runs as a role that does not own its tables (docs/api.md,
"Audit trail"; README, "Security"): migrated by the owner, it may read and append to the
audit trail and nothing more, so not even the service's own credentials can rewrite it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.main import create_app
from devstack import Stack
from reports_pipeline.job_table import make_engine
from reports_pipeline.storage import ReportStore
from tests.conftest import POSTGRES_URL, api_client, api_settings, auth, fresh_database
from tests.test_api import BASE
from tests.test_audit import CHAT


@pytest.fixture
def service_and_owner() -> Iterator[tuple[str, str]]:
    """A fresh database owned by the server's superuser, and a login role for the service."""
    role = f"reports_svc_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        with fresh_database("reports_role") as owner:
            service = owner.set(username=role, password=None)
            yield (
                service.render_as_string(hide_password=False),
                owner.render_as_string(hide_password=False),
            )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.fixture
def service_api(
    service_and_owner: tuple[str, str], store: ReportStore, s3_server: Stack, replica: Path
) -> Iterator[TestClient]:
    service, owner = service_and_owner
    with api_client(
        store, s3_server, replica, database_url=service, database_owner_url=owner
    ) as client:
        yield client


BYPASSES = [
    "UPDATE audit_events SET actor_id = 'someone else'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "DROP TABLE audit_events CASCADE",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "UPDATE audit_heads SET hash = 'x'",  # allowed: it only makes verify fail (below)
]


def test_the_service_works_but_cannot_rewrite_the_trail(
    service_api: TestClient, service_and_owner: tuple[str, str]
) -> None:
    created = service_api.post(BASE, json=CHAT, headers=auth())
    assert created.status_code == 202, created.text
    report_id = created.json()["id"]
    canceled = service_api.post(f"{BASE}/{report_id}/cancel", headers=auth())
    assert canceled.status_code == 200, canceled.text

    service = make_engine(service_and_owner[0])
    with service.connect() as conn:
        before = conn.execute(sa.text("SELECT * FROM audit_events ORDER BY id")).all()
    assert [row.event for row in before] == ["report.requested", "report.canceled"]
    for statement in BYPASSES[:-1]:
        denied = pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner")
        with denied, service.begin() as conn:
            conn.execute(sa.text(statement))
    with service.begin() as conn:
        conn.execute(sa.text(BYPASSES[-1]))
    with service.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM audit_events ORDER BY id")).all() == before
    service.dispose()
    found = service_api.get(f"{BASE}/audit/verify", headers=auth()).json()
    assert found["intact"] is False and found["broken_at"] is None  # the head no longer matches


def test_a_second_start_keeps_the_same_privileges(
    service_and_owner: tuple[str, str], store: ReportStore, s3_server: Stack, replica: Path
) -> None:
    """Each start migrates and grants again: idempotent, and what was granted stays exact."""
    service, owner = service_and_owner
    for _ in range(2):
        settings = api_settings(database_url=service, database_owner_url=owner)
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
    with make_engine(owner).connect() as conn:
        rights = conn.execute(
            sa.text(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'audit_events' AND grantee = :role ORDER BY 1"
            ),
            {"role": sa.engine.make_url(service).username},
        ).scalars()
        assert list(rights) == ["INSERT", "SELECT"]


@pytest.mark.parametrize(
    ("owner", "refused"),
    [
        (None, True),
        ("postgresql://svc:Same-role-Pw4@db/jobs", True),  # the same role
        ("postgresql://owner:pw@db/jobs", False),
    ],
)
def test_production_refuses_a_service_that_owns_its_tables(
    owner: str | None, refused: bool
) -> None:
    settings = {
        "env": "production",
        "database_url": "postgresql://svc:Service-Pw9@db/jobs",
        "database_owner_url": owner,
        "file_password_key": "k" * 40,
        "jwt_secret": "j" * 40,
        "jwt_issuer": "https://id.example.com",
        "jwt_audience": "reports",
    }
    if refused:
        with pytest.raises(ValueError, match="REPORTS_DATABASE_OWNER_URL must name") as error:
            ApiSettings(**settings)  # type: ignore[arg-type]
        assert "Pw4" not in str(error.value) and "Pw9" not in str(error.value)
    else:
        assert ApiSettings(**settings).database_owner_url == owner  # type: ignore[arg-type]
