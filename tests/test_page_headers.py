"""The admin page's own protections: it runs only its own files and cannot be framed.
The browser tests (test_page.py, test_accessibility.py) drive the page under this policy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/crm/reports", "/crm/reports/static/reports.js"])
def test_the_page_and_its_files_carry_the_security_headers(api: TestClient, path: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 200
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in answer.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no other origin
    assert policy["frame-ancestors"] == "'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_the_page_has_no_inline_script_or_style_for_the_policy_to_block(api: TestClient) -> None:
    html = api.get("/crm/reports").text
    assert "<style" not in html and " style=" not in html
    for tag in html.split("<script")[1:]:
        assert tag.lstrip().startswith("src=") or ' src="' in tag.split(">", 1)[0]
