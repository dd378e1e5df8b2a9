"""Mint a token for local use: `python -m api.tokens --org org_001 --role admin`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import jwt

from api.config import get_settings


def mint(
    *,
    org_id: str,
    role: str,
    sub: str = "local-admin",
    email: str | None = None,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    secret: str | None = None,
) -> str:
    settings = get_settings()
    key = secret or settings.jwt_secret
    if not key:
        raise SystemExit("minting needs REPORTS_JWT_SECRET (HS256)")
    claims: dict[str, object] = {
        "sub": sub,
        "org_id": org_id,
        "role": role,
        "exp": datetime.now(UTC) + ttl,
        "iat": datetime.now(UTC),
    }
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, key, algorithm="HS256")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--org", required=True)
    parser.add_argument("--role", default="admin", choices=["owner", "admin", "user"])
    parser.add_argument("--sub", default="local-admin")
    parser.add_argument("--email")
    parser.add_argument("--name")
    parser.add_argument("--hours", type=float, default=8)
    args = parser.parse_args()
    print(
        mint(
            org_id=args.org,
            role=args.role,
            sub=args.sub,
            email=args.email,
            name=args.name,
            ttl=timedelta(hours=args.hours),
        )
    )


if __name__ == "__main__":
    main()
