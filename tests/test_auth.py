"""The JWT attack matrix and the role rules (docs/api.md, "Who may call it")."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from api.config import ApiSettings
from api.main import create_app
from tests.conftest import SECRET, api_settings

PATH = "/api/wp-crm/reports/org_001"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def client_for(settings: ApiSettings, tmp: Path) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update={"database_url": f"sqlite:///{tmp / 'jobs.db'}"}))
    )


@pytest.fixture
def hs_api(tmp_path: Path) -> Iterator[TestClient]:
    settings = api_settings(jwt_audience="reports", jwt_issuer="https://id.example.com")
    with client_for(settings, tmp_path) as client:
        yield client


@pytest.fixture
def rs_api(tmp_path: Path, rsa_keys: tuple[bytes, bytes]) -> Iterator[TestClient]:
    settings = api_settings(
        jwt_secret=None, jwt_public_key=rsa_keys[1].decode(), jwt_algorithms=["RS256"]
    )
    with client_for(settings, tmp_path) as client:
        yield client


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "sub": "u-1",
        "org_id": "org_001",
        "role": "admin",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "iss": "https://id.example.com",
        "aud": "reports",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hs(**changes: Any) -> str:
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def call(client: TestClient, token: str | None, scheme: str = "Bearer") -> tuple[int, str]:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    answer = client.get(PATH, headers=headers)
    return answer.status_code, answer.json().get("detail", "")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_valid_token_passes(hs_api: TestClient) -> None:
    assert call(hs_api, hs())[0] == 200


def test_no_token_is_not_authenticated(hs_api: TestClient) -> None:
    assert call(hs_api, None) == (401, "Not authenticated")


@pytest.mark.parametrize(
    "name,token",
    [
        ("malformed", "not-a-jwt"),
        ("empty segments", ".."),
        ("expired", hs(exp=datetime.now(UTC) - timedelta(seconds=5))),
        ("not yet valid", hs(nbf=datetime.now(UTC) + timedelta(hours=1))),
        ("wrong issuer", hs(iss="https://evil.example.com")),
        ("wrong audience", hs(aud="billing")),
        ("no expiry", hs(exp=None)),
        ("no organisation", hs(org_id=None)),
        ("unknown role", hs(role="superadmin")),
        ("wrong secret", jwt.encode(claims(), "another-secret-of-enough-length-1234", "HS256")),
        (
            "alg none",
            b64({"alg": "none", "typ": "JWT"})
            + "."
            + b64(
                {
                    k: (int(v.timestamp()) if isinstance(v, datetime) else v)
                    for k, v in claims().items()
                }
            )
            + ".",
        ),
    ],
)
def test_bad_tokens_are_invalid(hs_api: TestClient, name: str, token: str) -> None:
    assert call(hs_api, token) == (401, "Invalid token"), name


def test_a_tampered_payload_is_invalid(hs_api: TestClient) -> None:
    header, _, signature = hs().split(".")
    forged = b64(
        {
            k: (int(v.timestamp()) if isinstance(v, datetime) else v)
            for k, v in claims(role="owner", org_id="org_002").items()
        }
    )
    assert call(hs_api, f"{header}.{forged}.{signature}") == (401, "Invalid token")


def test_basic_scheme_is_not_a_bearer_token(hs_api: TestClient) -> None:
    assert call(hs_api, hs(), scheme="Basic")[0] == 401


def test_rs256_tokens_pass_with_the_public_key(
    rs_api: TestClient, rsa_keys: tuple[bytes, bytes]
) -> None:
    token = jwt.encode(claims(iss=None, aud=None), rsa_keys[0], algorithm="RS256")
    assert call(rs_api, token)[0] == 200


def test_hs256_signed_with_the_rs_public_key_is_refused(
    rs_api: TestClient, rsa_keys: tuple[bytes, bytes]
) -> None:
    import hashlib
    import hmac

    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64(
        {
            k: (int(v.timestamp()) if isinstance(v, datetime) else v)
            for k, v in claims(iss=None, aud=None).items()
        }
    )
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(rsa_keys[1], signing_input, hashlib.sha256).digest()
    forged = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert call(rs_api, forged) == (401, "Invalid token")


@pytest.mark.parametrize("role,status", [("owner", 200), ("admin", 200), ("user", 403)])
def test_roles(hs_api: TestClient, role: str, status: int) -> None:
    assert call(hs_api, hs(role=role))[0] == status


def test_production_refuses_to_start_with_a_placeholder_secret() -> None:
    key = "k" * 40  # a real file-password key, so only the JWT secret is at fault
    with pytest.raises(ValueError, match="REPORTS_JWT_SECRET"):
        ApiSettings(env="production", jwt_secret="changeme", file_password_key=key)
    with pytest.raises(ValueError, match="REPORTS_JWT_SECRET"):
        ApiSettings(env="production", file_password_key=key)
    ApiSettings(env="production", jwt_secret="x" * 40, file_password_key=key, **TOKEN_ORIGIN)


TOKEN_ORIGIN = {"jwt_issuer": "https://id.example.com", "jwt_audience": "reports"}


@pytest.mark.parametrize("left_out", ["jwt_issuer", "jwt_audience"])
def test_production_checks_whose_tokens_it_takes(left_out: str) -> None:
    origin = {k: v for k, v in TOKEN_ORIGIN.items() if k != left_out}
    with pytest.raises(ValueError, match=left_out.upper()):
        ApiSettings(env="production", jwt_secret="x" * 40, file_password_key="k" * 40, **origin)


def test_production_refuses_the_local_file_password_key() -> None:
    with pytest.raises(ValueError, match="REPORTS_FILE_PASSWORD_KEY"):
        ApiSettings(env="production", jwt_secret="x" * 40)
    with pytest.raises(ValueError, match="REPORTS_FILE_PASSWORD_KEY"):
        ApiSettings(env="production", jwt_secret="x" * 40, file_password_key="short")


def test_public_key_algorithms_need_a_key() -> None:
    with pytest.raises(ValueError, match="PUBLIC_KEY"):
        ApiSettings(env="test", jwt_algorithms=["RS256"])
    with pytest.raises(ValueError, match="unsupported"):
        ApiSettings(env="test", jwt_secret=SECRET, jwt_algorithms=["none"])


def test_a_token_longer_than_any_real_one_is_refused_before_any_key_work(
    hs_api: TestClient,
) -> None:
    padded = hs(note="x" * 30_000)  # validly signed, but 40 KB
    status, detail = call(hs_api, padded)
    assert (status, detail) == (401, "Invalid token")
    assert call(hs_api, hs(note="x" * 1000))[0] == 200
