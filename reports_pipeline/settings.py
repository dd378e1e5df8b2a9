"""Service settings, read once from `REPORTS_`-prefixed environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What the API and the export runs share: the job table, the replica, the store."""

    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    env: Literal["local", "test", "production"] = "local"
    database_url: str = "sqlite:///.local/jobs.db"
    replica_root: Path = Path(".local/replica")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "crm-reports"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_part_size_mib: int = 8
    dagster_url: str = "http://127.0.0.1:3000"
    slice_rows: int = 50_000
