"""API settings: the shared service settings plus how tokens are verified."""

from __future__ import annotations

from functools import lru_cache
from typing import Self

from pydantic import Field, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reports_pipeline.settings import ServiceSettings

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret"}
LOCAL_DEV_SECRET = "local-development-only-secret-not-for-production"  # noqa: S105 - refused in production
ALLOWED_ALGORITHMS = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"}


class ApiSettings(ServiceSettings):
    jwt_secret: str | None = Field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    max_body_bytes: int = 64 * 1024
    # The API only asks the store small things (is the object still there, sign a link):
    # a stalled store answers 503 within a couple of seconds instead of holding the request.
    store_timeout_s: float = 2.0
    # The API migrates the job table. On PostgreSQL, as the tables' owner: it then grants the
    # service's role (the user of `database_url`, which every other part uses) only what it
    # needs: on the audit trail, SELECT and INSERT.
    database_owner_url: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _production_service_does_not_own_its_tables(self) -> Self:
        if self.env != "production" or not self.database_url.startswith("postgresql"):
            return self
        service = _user_of(self.database_url, "REPORTS_DATABASE_URL")
        owner = self.database_owner_url and _user_of(
            self.database_owner_url, "REPORTS_DATABASE_OWNER_URL"
        )
        if service is None or owner in (None, service):
            raise ValueError(
                "REPORTS_DATABASE_OWNER_URL must name the tables' owner, a role other than "
                "REPORTS_DATABASE_URL's (the service may not rewrite the audit trail)"
            )
        return self

    @model_validator(mode="after")
    def _keys_are_usable(self) -> Self:
        unknown = set(self.jwt_algorithms) - ALLOWED_ALGORITHMS
        if unknown or not self.jwt_algorithms:
            raise ValueError(f"REPORTS_JWT_ALGORITHMS has unsupported entries: {sorted(unknown)}")
        if self.env == "local" and not (
            self.jwt_secret or self.jwt_public_key or self.jwt_jwks_url
        ):
            self.jwt_secret = LOCAL_DEV_SECRET
        wants_hmac = any(a.startswith("HS") for a in self.jwt_algorithms)
        wants_public = any(not a.startswith("HS") for a in self.jwt_algorithms)
        if (
            self.env == "production"
            and wants_hmac
            and (
                self.jwt_secret is None
                or self.jwt_secret in PLACEHOLDER_SECRETS | {LOCAL_DEV_SECRET}
                or len(self.jwt_secret) < 32
            )
        ):
            raise ValueError("REPORTS_JWT_SECRET must be a real secret of 32+ characters")
        if self.env == "production" and not (self.jwt_issuer and self.jwt_audience):
            # Else a token another service got from the same identity provider works here.
            raise ValueError(
                "REPORTS_JWT_ISSUER and REPORTS_JWT_AUDIENCE must be set in production"
            )
        if wants_hmac and not self.jwt_secret:
            raise ValueError("an HS algorithm is allowed but REPORTS_JWT_SECRET is not set")
        if wants_public and not (self.jwt_public_key or self.jwt_jwks_url):
            raise ValueError("RS/ES algorithms need REPORTS_JWT_PUBLIC_KEY or REPORTS_JWT_JWKS_URL")
        return self


def _user_of(url: str, setting: str) -> str | None:
    try:
        return make_url(url).username
    except ArgumentError:
        raise ValueError(f"{setting} is not a database URL") from None


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()
