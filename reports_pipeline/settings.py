"""Service settings, read once from `REPORTS_`-prefixed environment variables."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warehouse.location import ReplicaLocation

# Seals file passwords between the API and the run; refused in production.
LOCAL_FILE_PASSWORD_KEY = "local-development-only-file-password-key"  # noqa: S105


class ServiceSettings(BaseSettings):
    """What the API and the export runs share: the job table, the replica, the store."""

    # A refused start is logged: its errors name the setting and the rule, never a value.
    model_config = SettingsConfigDict(
        env_prefix="REPORTS_", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["local", "test", "production"] = "local"
    database_url: str = Field(default="sqlite:///.local/jobs.db", repr=False)  # may hold a password
    # A local folder, or s3://bucket/prefix (read from the store at `s3_endpoint_url`).
    replica_root: str = ".local/replica"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "crm-reports"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = Field(default=None, repr=False)
    s3_part_size_mib: int = 8
    dagster_url: str = "http://127.0.0.1:3000"
    slice_rows: int = 50_000
    file_password_key: str = Field(default=LOCAL_FILE_PASSWORD_KEY, repr=False)
    # A replica table unchanged for longer than this fails its freshness check (a warning).
    replica_max_age_hours: float = 26
    # Where people reach the API: runs link to their report there.
    public_api_url: str = "http://127.0.0.1:8000"

    @property
    def replica(self) -> ReplicaLocation:
        return ReplicaLocation.of(self.replica_root, self.s3_endpoint_url)

    @model_validator(mode="after")
    def _production_has_a_real_key(self) -> Self:
        weak = self.file_password_key == LOCAL_FILE_PASSWORD_KEY or len(self.file_password_key) < 32
        if self.env == "production" and weak:
            raise ValueError("REPORTS_FILE_PASSWORD_KEY must be a real secret of 32+ characters")
        return self
