"""The admin page for everyone: axe-core (run inside the page) finds no serious or critical
violation in its main states at desktop and phone width, and an export can be asked for
with the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from devstack import REPO, Stack
from tests.conftest import ACCESSIBILITY_ORG, SHOTS, token

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ORG = ACCESSIBILITY_ORG  # its ticket export is never held back by another test's
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def serious_violations(page: Page) -> list[dict[str, Any]]:
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `make test-tools` (npm ci)")
    # Evaluated through the DevTools protocol: the page's CSP refuses injected script tags.
    page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {
               runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}))
             .violations.filter(v => ["serious", "critical"].includes(v.impact))
             .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"""
    )
    return found


# The list with an export in every status (its rows as the API gives them), so each badge,
# progress bar and note is checked whatever the other tests left in the organisation.
EVERY_STATUS = """() => {
  stopPolling();
  const at = new Date().toISOString();
  const made = (id, status, more) => ({ id, type: "chat", status, format: "csv", filters: {},
    timezone: "UTC", requested_by: { id: "u", email: "u@example.com", name: "An Admin" },
    created_at: at, started_at: at, completed_at: at, rows_written: 0, rows_expected: null,
    row_count: null, file_size_bytes: null, file_name: null, ...more });
  state.reports = [made("1", "pending", {}),
    made("2", "processing", { rows_written: 250, rows_expected: 1000 }),
    made("3", "completed", { row_count: 1000, file_size_bytes: 65536, file_name: "c.csv" }),
    made("4", "failed", { error: "The replica could not be read" }),
    made("5", "canceled", { canceled_by: { id: "u", name: "An Admin" } })];
  renderRows();
}"""


def signed_in(page: Page, stack: Stack, bearer: str) -> None:
    page.goto("about:blank")  # a new load: only a hash change would not read the token
    page.goto(f"{stack.api_url}/crm/reports#token={bearer}")


def open_all_groups(page: Page) -> None:
    page.locator("details").evaluate_all("all => all.forEach(d => { d.open = true; })")


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_the_page_has_no_serious_accessibility_violations(
    page: Page, e2e_stack: Stack, viewport: dict[str, int] | None
) -> None:
    if viewport:
        page.set_viewport_size(viewport)
    suffix = "phone" if viewport else "desktop"
    page.goto(f"{e2e_stack.api_url}/crm/reports")  # no token: the sign-in view
    expect(page.get_by_label("Access token")).to_be_visible()
    assert serious_violations(page) == []
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('button'), {id: 'x'}))"
    )
    assert [v["id"] for v in serious_violations(page)] == ["button-name"]  # the check checks
    page.evaluate("document.getElementById('x').remove()")
    signed_in(page, e2e_stack, token(ORG, "admin", "a11y-admin"))
    for name in ("Chat", "Chat summary", "Ticket", "Call Log", "Goal"):
        page.get_by_role("radio", name=re.compile(rf"^{name}\b(?! summary)")).check()
        open_all_groups(page)
        if name == "Chat summary":  # with its chart and table drawn
            expect(page.locator("#preview")).to_have_attribute("data-state", "shown")
        assert serious_violations(page) == [], name
    page.evaluate(EVERY_STATUS)
    expect(page.locator("#report-rows tr")).to_have_count(5)
    assert serious_violations(page) == [], "the list"
    page.screenshot(path=SHOTS / f"15-filters-open-{suffix}.png", full_page=True)
    signed_in(page, e2e_stack, token(ORG, "user", "a11y-user"))
    expect(page.get_by_role("heading", name="Access Restricted")).to_be_visible()
    assert serious_violations(page) == []


def test_an_export_is_asked_for_with_the_keyboard_alone(page: Page, e2e_stack: Stack) -> None:
    signed_in(page, e2e_stack, token(ORG, "admin", "keys-admin"))
    ticket = page.get_by_role("radio", name=re.compile(r"^Ticket\b"))
    page.get_by_role("radio", name=re.compile(r"^Chat Conversations")).focus()
    for _ in range(2):
        page.keyboard.press("ArrowRight")  # Chat -> Contact -> Ticket
    expect(ticket).to_be_checked()
    status = page.locator("details[data-group=status] > summary")
    status.focus()
    page.keyboard.press("Enter")  # the group opens
    search = page.locator("[data-filter=priorities]").get_by_placeholder(re.compile("^Search"))
    search.focus()
    page.keyboard.type("high")
    page.keyboard.press("Tab")  # past the other, hidden values: to High's checkbox
    page.keyboard.press("Space")
    expect(page.locator("#active-filters")).to_contain_text("Priority: any of High")
    page.get_by_label("Remove filter: Priority: any of High").focus()
    page.keyboard.press("Enter")  # a chip is removed from the keyboard too
    expect(page.locator("#active-filters")).to_be_empty()
    page.get_by_role("button", name="Generate Report").focus()
    page.keyboard.press("Enter")
    asked = page.locator("#report-rows tr").first
    expect(asked).to_contain_text("Ticket")
    # Canceled, it holds back no later ticket export of this organisation (rate limit).
    report_id = asked.get_attribute("data-report-id")
    canceled = httpx.post(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/{report_id}/cancel",
        headers={"Authorization": f"Bearer {token(ORG, 'admin', 'keys-admin')}"},
    )
    assert canceled.status_code == 200
