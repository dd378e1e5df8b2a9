"""Bearer-token authentication and the reports role check (docs/api.md, "Who may call it")."""

from __future__ import annotations

from typing import Annotated, Literal

import jwt
from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, StringConstraints, ValidationError

from api.config import ApiSettings, get_settings
from api.errors import InvalidToken, NotAuthenticated, ReportNotFound, ReportsForbidden
from reports_pipeline.audit import SCHEDULE_ACTOR
from reports_pipeline.replica import ORG_ID_PATTERN

Role = Literal["owner", "admin", "user"]
REPORT_ROLES = {"owner", "admin"}

MAX_TOKEN_CHARS = 32 * 1024  # three 1,024-character claims fit; no key work for longer
bearer = HTTPBearer(auto_error=False, description="JWT issued for one organisation")


# Identity providers send long names and ids; beyond these a claim is not an identity.
MAX_CLAIM = 1024
Claim = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLAIM, pattern=r"^[^\x00]*$")]


def _not_a_schedule(sub: str) -> str:
    # "schedule:<id>" names a schedule as the requester of its firings; no person is one.
    if sub.startswith(SCHEDULE_ACTOR):
        raise ValueError("a subject may not name a schedule")
    return sub


Subject = Annotated[Claim, AfterValidator(_not_a_schedule)]


class Principal(BaseModel):
    """The verified caller: the claims of the token."""

    sub: Subject
    org_id: Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]
    role: Role
    email: Claim | None = None
    name: Claim | None = None


_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def _verification_key(algorithm: str, settings: ApiSettings, token: str) -> object:
    if algorithm.startswith("HS"):
        if not settings.jwt_secret:
            raise InvalidToken()
        return settings.jwt_secret
    if settings.jwt_public_key:
        return settings.jwt_public_key
    if settings.jwt_jwks_url:
        client = _jwks_clients.setdefault(
            settings.jwt_jwks_url, jwt.PyJWKClient(settings.jwt_jwks_url)
        )
        return client.get_signing_key_from_jwt(token).key
    raise InvalidToken()


def decode_token(token: str, settings: ApiSettings) -> Principal:
    """Verify signature, expiry, issuer and audience; `none` and unlisted algorithms fail."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in settings.jwt_algorithms:
            raise InvalidToken()
        claims = jwt.decode(
            token,
            _verification_key(algorithm, settings, token),  # type: ignore[arg-type]
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "sub", "org_id", "role"],
                "verify_aud": settings.jwt_audience is not None,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise InvalidToken() from error
    try:
        return Principal.model_validate(claims)
    except ValidationError as error:  # signed, but not claims this service can keep
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
        raise InvalidToken(reason=f"unusable claims: {', '.join(fields)}") from None


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    settings: Annotated[ApiSettings, Depends(get_settings)],
) -> Principal:
    if credentials is None:
        raise NotAuthenticated()
    if credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise InvalidToken()
    if len(credentials.credentials) > MAX_TOKEN_CHARS:
        raise InvalidToken(reason=f"longer than {MAX_TOKEN_CHARS} characters")
    return decode_token(credentials.credentials, settings)


async def reports_admin(
    principal: Annotated[Principal, Depends(current_principal)],
    organisation_id: Annotated[str, Path(alias="organisationId", max_length=64)],
) -> Principal:
    """Owner or admin of the organisation in the path; another organisation is a 404."""
    if principal.role not in REPORT_ROLES:
        raise ReportsForbidden()
    if organisation_id != principal.org_id:
        raise ReportNotFound()
    return principal


ReportsAdmin = Annotated[Principal, Depends(reports_admin)]
