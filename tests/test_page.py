"""The admin page in headless Chromium against the running stack (real API, job table,
S3 server and Dagster runs). Screenshots of each state go to artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import openpyxl
import pytest
from playwright.sync_api import Page, Route, expect

from devstack import Stack
from tests.conftest import SECRET, SHOTS, auth, token

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ORG = "org_003"  # an organisation the other end-to-end tests leave alone


def shoot(page: Page, state: str) -> None:
    """A screenshot of this state at desktop width, and one at a 390-px phone's."""
    page.screenshot(path=SHOTS / f"{state}.png", full_page=True)
    desktop = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=SHOTS / f"{state}-phone.png", full_page=True)
    if desktop:
        page.set_viewport_size(desktop)


def matching_rows(page: Page) -> int:
    """The live count the filter panel shows, as a number."""
    return int(re.sub(r"\D", "", page.locator("#match-count").inner_text()))


def open_as(page: Page, stack: Stack, bearer: str) -> None:
    page.goto(f"{stack.api_url}/crm/reports#token={bearer}")


def every_row_counted(page: Page, stack: Stack, type_label: str) -> int:
    """Signed in as an admin, the type chosen with no filter: the count the page shows."""
    open_as(page, stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(rf"^{type_label}\b(?! summary)")).check()
    expect(page.locator("#match-count")).to_have_attribute("data-state", "exact")
    return matching_rows(page)


def test_admin_generates_a_filtered_ticket_report_and_downloads_it(
    page: Page, e2e_stack: Stack
) -> None:
    every_ticket = every_row_counted(page, e2e_stack, "Ticket")
    # The organisation's own zone by default, picked from canonical names only.
    options = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/options",
        headers={"Authorization": f"Bearer {token(ORG, 'admin', 'page-admin')}"},
    ).json()
    expect(page.locator("#timezone")).to_have_value(options["organisation"][0]["id"])
    expect(page.locator('#timezones option[value="Asia/Kolkata"]')).to_have_count(1)
    expect(page.locator('#timezones option[value="Asia/Calcutta"]')).to_have_count(0)
    count = page.locator("#match-count")
    page.locator("details[data-group=status] > summary").click()  # its group opens
    priorities = page.locator("[data-filter=priorities]")
    priorities.get_by_placeholder(re.compile("^Search")).fill("hi")
    expect(priorities.get_by_role("checkbox", name="Low")).to_be_hidden()
    priorities.get_by_role("checkbox", name="High").check()
    expect(page.locator("#active-filters")).to_contain_text("Priority: any of High")
    expect(count).not_to_have_text(f"{every_ticket:,} matching rows.")  # counted again
    expect(count).to_have_attribute("data-state", "exact")
    matching = matching_rows(page)
    assert 0 < matching < every_ticket
    expect(page.get_by_role("group", name="Related sheets")).to_be_hidden()  # chats' only
    page.get_by_label("Separator").select_option(";")  # a European Excel's
    page.get_by_label("Byte-order mark").uncheck()
    shoot(page, "1-request-form")
    page.get_by_role("button", name="Generate Report").click()

    row = page.locator("#report-rows tr").first
    expect(row).to_have_attribute("data-status", "pending", timeout=5_000)
    shoot(page, "2-pending")
    expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    shoot(page, "3-completed")

    # The new tab goes straight to the signed S3 URL, which downloads as an attachment.
    with page.context.expect_event(
        "request", predicate=lambda r: "X-Amz-Signature" in r.url
    ) as signed:
        row.get_by_role("button", name="Download").click()
    raw = httpx.get(signed.value.url).content
    assert raw.startswith(b"Ticket ID;")  # no BOM, semicolons
    rows = list(csv.reader(io.StringIO(raw.decode(), newline=""), delimiter=";"))
    assert rows[0][:4] == ["Ticket ID", "Chat ID", "Contact ID", "Contact Name"]
    assert {r[6] for r in rows[1:]} == {"high"}
    assert len(rows) - 1 == matching  # the page's count was the file's

    page.get_by_role("button", name="Generate Report").click()
    message = page.locator("#request-message")
    expect(message).to_contain_text(
        "A report was completed recently. Please wait before requesting another."
    )
    shoot(page, "4-conflict")


def test_a_user_sees_access_restricted(page: Page, e2e_stack: Stack) -> None:
    open_as(page, e2e_stack, token(ORG, "user", "page-user"))
    expect(page.get_by_role("heading", name="Access Restricted")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    shoot(page, "5-access-restricted")


def test_an_expired_token_is_sent_back_to_sign_in(page: Page, e2e_stack: Stack) -> None:
    expired = jwt.encode(
        {
            "sub": "x",
            "org_id": ORG,
            "role": "admin",
            "exp": datetime.now(UTC) - timedelta(minutes=1),
        },
        SECRET,
        "HS256",
    )
    open_as(page, e2e_stack, expired)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#sign-in-message")).to_contain_text("expired")
    shoot(page, "6-expired-sign-in")
    page.get_by_label("Access token").fill(token(ORG, "owner", "page-owner"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="New export")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_admin_cancels_an_export_that_has_not_started(page: Page, e2e_stack: Stack) -> None:
    e2e_stack.stop_dagster()  # nothing picks the request up: it stays pending for the test
    try:
        open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
        page.get_by_role("radio", name=re.compile(r"^Call Log\b")).check()
        page.get_by_label("Purpose").fill("Check the cancel button")
        page.get_by_role("button", name="Generate Report").click()
        row = page.locator("#report-rows tr").first
        expect(row).to_have_attribute("data-status", "pending", timeout=5_000)
        expect(row).to_contain_text("Check the cancel button")
        shoot(page, "7-pending-with-cancel")
        row.get_by_role("button", name=re.compile("^Cancel")).click()
        expect(row).to_have_attribute("data-status", "canceled", timeout=5_000)
        expect(row).to_contain_text("by User page-admin")
        expect(row.get_by_role("button")).to_have_count(0)
        shoot(page, "8-canceled")
    finally:
        e2e_stack.start_dagster()


def test_without_a_token_there_is_only_the_sign_in(page: Page, e2e_stack: Stack) -> None:
    page.goto(f"{e2e_stack.api_url}/crm/reports")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


@pytest.mark.parametrize(
    "pasted,message",
    [
        ("not a token at all", "That is not an access token"),
        ("aaa.bbb.ccc", "does not name an organisation"),
    ],
)
def test_a_malformed_token_is_explained_at_sign_in(
    page: Page, e2e_stack: Stack, pasted: str, message: str
) -> None:
    page.goto(f"{e2e_stack.api_url}/crm/reports")
    page.get_by_label("Access token").fill(pasted)
    calls: list[str] = []
    page.on(
        "request", lambda request: calls.append(request.url) if "/api/" in request.url else None
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-message")).to_contain_text(message)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert calls == []  # nothing was sent with it
    shoot(page, "9-malformed-token")


def test_refreshing_the_list_keeps_the_pages_loaded_with_more(page: Page, e2e_stack: Stack) -> None:
    e2e_stack.stop_dagster()  # the last request stays pending, so the page keeps polling
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}"
    headers = {"Authorization": f"Bearer {token(ORG, 'admin', 'page-admin')}"}
    try:
        for _ in range(25):
            created = httpx.post(base, json={"type": "goal"}, headers=headers).json()
            httpx.post(f"{base}/{created['id']}/cancel", headers=headers).raise_for_status()
        pending = httpx.post(base, json={"type": "goal"}, headers=headers).json()["id"]
        total = len(httpx.get(f"{base}?limit=100", headers=headers).json()["items"])
        assert total > 20

        open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
        rows = page.locator("#report-rows tr")
        expect(rows).to_have_count(20)
        page.get_by_role("button", name="Show more").click()
        expect(rows).to_have_count(total)
        with page.expect_response(lambda r: r.url.startswith(f"{base}?limit=")):
            pass  # the next poll
        page.wait_for_function(
            "n => document.querySelectorAll('#report-rows tr').length === n", arg=total
        )
        expect(rows).to_have_count(total)
        expect(page.locator(f"[data-report-id='{pending}']")).to_have_attribute(
            "data-status", "pending"
        )
    finally:
        httpx.post(f"{base}/{pending}/cancel", headers=headers)
        e2e_stack.start_dagster()


def test_the_page_offers_message_exports_with_their_filters(page: Page, e2e_stack: Stack) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(r"^Message\b")).check()
    page.locator("details.group").evaluate_all("groups => groups.forEach(g => { g.open = true; })")
    for name in ("sent", "sender_types", "senders", "text", "high_priority", "labels"):
        expect(page.locator(f"[data-filter={name}]")).to_be_visible()
    expect(page.locator("#match-count")).to_have_text(
        "The number of rows is known once the export runs."
    )
    shoot(page, "10-message-filters")


def test_an_admin_exports_the_first_responses_of_a_month_as_events(
    page: Page, e2e_stack: Stack
) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(r"^Event\b")).check()
    page.locator("details.group").evaluate_all("groups => groups.forEach(g => { g.open = true; })")
    for name in ("occurred", "event_types", "agents", "teams", "high_priority"):
        expect(page.locator(f"[data-filter={name}]")).to_be_visible()
    kinds = page.get_by_role("group", name="Event types")
    expect(kinds.locator("label")).to_have_count(10)
    kinds.get_by_text("First response", exact=True).click()
    expect(page.locator("#match-count")).to_have_attribute("data-state", "bound")
    expect(page.locator("#match-count")).to_contain_text("At most")
    shoot(page, "13-event-filters")
    page.get_by_role("button", name="Generate Report").click()
    row = page.locator("#report-rows tr").first
    expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    report_id = row.get_attribute("data-report-id")
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}"
    report = httpx.get(f"{base}/{report_id}", headers=auth(ORG)).json()
    assert report["type"] == "event"
    assert report["filters"]["event_types"] == {"values": ["first_response"]}
    link = httpx.get(f"{base}/{report_id}/download", headers=auth(ORG)).json()
    body = httpx.get(link["url"]).content.decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(body, newline=""))
    assert header[0] == "Event Type" and len(rows) == report["row_count"] > 0
    assert {r[0] for r in rows} == {"first_response"}


def chart_and_table(page: Page) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The preview's bars (period, value) and its table's rows (period, value as shown)."""
    bars = page.locator("#preview-chart rect.bar")
    drawn = [(b.get_attribute("data-period"), b.get_attribute("data-value")) for b in bars.all()]
    cells = page.locator("#preview-table-rows tr")
    listed = [(r.locator("th").inner_text(), r.locator("td").inner_text()) for r in cells.all()]
    return [(p or "", v or "") for p, v in drawn], listed


def same_numbers(shown: list[tuple[str, str]], filed: list[tuple[str, str]]) -> None:
    """Periods equal and values equal as numbers ("" or a dash: no value)."""

    def number(text: str) -> float | None:
        text = text.replace(",", "")
        return None if text in ("", "–") else float(text)

    assert [p for p, _ in shown] == [p for p, _ in filed]
    assert [number(v) for _, v in shown] == [number(v) for _, v in filed]


def test_an_admin_previews_a_daily_chat_summary_and_gets_the_same_numbers(
    page: Page, e2e_stack: Stack
) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(r"^Chat summary\b")).check()
    expect(page.get_by_label("Periods")).to_have_value("day")
    page.get_by_label("Created from").fill("2026-02-02")
    page.get_by_label("Created to").fill("2026-02-15")
    page.get_by_label("Group by").select_option("channel")
    preview = page.locator("#preview")
    expect(preview).to_have_attribute("data-state", "shown")
    expect(page.locator("#preview-note")).to_have_text(
        "The whole export: 2026-02-02 to 2026-02-15."
    )
    expect(page.locator("#preview-chart rect.bar")).to_have_count(14)
    group = page.locator("#preview-series").input_value()
    chats, chats_listed = chart_and_table(page)
    page.get_by_label("Measure").select_option("Average First Response (s)")
    expect(page.locator("#preview-measure-head")).to_have_text("Average First Response (s)")
    first, first_listed = chart_and_table(page)
    shoot(page, "17-summary-preview")

    page.get_by_role("button", name="Generate Report").click()
    expect(page.locator("#request-message")).to_contain_text("Export requested")
    expect(preview).to_be_visible()  # still there after the request
    row = page.locator("#report-rows tr", has_text="Chat summary").first
    expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    report_id = row.get_attribute("data-report-id")
    base = f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}"
    link = httpx.get(f"{base}/{report_id}/download", headers=auth(ORG)).json()
    body = httpx.get(link["url"]).content.decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(body, newline=""))
    assert header[:3] == ["Period", "Group", "Chats"]
    mine = [dict(zip(header, r, strict=True)) for r in rows if (r[1] or "(none)") == group]
    assert sum(int(r["Chats"]) for r in mine) > 0
    for shown in (chats, chats_listed):
        same_numbers(shown, [(r["Period"], r["Chats"]) for r in mine])
    for shown in (first, first_listed):
        same_numbers(shown, [(r["Period"], r["Average First Response (s)"]) for r in mine])


def test_an_admin_asks_for_a_protected_excel_file_with_a_purpose(
    page: Page, e2e_stack: Stack, tmp_path: Path
) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(r"^Contact\b")).check()
    expect(page.get_by_label("Separator")).to_be_visible()
    page.get_by_label("File format").select_option("xlsx")
    expect(page.get_by_label("Separator")).to_be_hidden()  # a CSV's layout only
    picked = pick_columns(page, ["Email", "Name", "Contact ID"])
    page.get_by_label("File password").fill("page-password-1")
    page.get_by_label("Purpose").fill("Contacts for the CRM migration")
    shoot(page, "11-format-password-purpose")
    page.get_by_role("button", name="Generate Report").click()
    expect(page.get_by_label("File password")).to_have_value("")  # not kept on the page

    row = page.locator("#report-rows tr").first
    expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
    expect(row).to_contain_text("Excel, protected")
    expect(row).to_contain_text("Contacts for the CRM migration")
    shoot(page, "12-protected-excel-completed")
    with page.context.expect_event(
        "request", predicate=lambda r: "X-Amz-Signature" in r.url
    ) as signed:
        row.get_by_role("button", name="Download").click()
    archive = tmp_path / "contacts.xlsx.zip"
    archive.write_bytes(httpx.get(signed.value.url).content)
    opened = subprocess.run(
        ["7zz", "x", "-ppage-password-1", f"-o{tmp_path}", str(archive)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    assert opened.returncode == 0, opened.stderr
    (workbook,) = tmp_path.glob("contact-report-*.xlsx")
    sheet = openpyxl.load_workbook(workbook, read_only=True).worksheets[0]
    assert next(sheet.iter_rows(values_only=True)) == ("Email", "Name", "Contact ID")

    # Back on the page later, "As last time" gives the same choice for the type.
    page.reload()
    page.get_by_role("radio", name=re.compile(r"^Contact\b")).check()
    page.locator("#columns-picker > summary").click()
    expect(page.locator("#column-list li")).not_to_have_count(0)
    page.get_by_role("button", name="As last time").click()
    expect(page.locator("#column-summary")).to_have_text(picked)
    checked = page.locator("#column-list input:checked")
    assert [checked.nth(i).input_value() for i in range(3)] == ["Email", "Name", "Contact ID"]


def pick_columns(page: Page, wanted: list[str]) -> str:
    """Choose `wanted`, in that order, in the column picker: searched, ticked and moved as
    an admin would. Returns the picker's summary."""
    page.locator("#columns-picker > summary").click()
    columns = page.locator("#column-list li")
    expect(columns).not_to_have_count(0)
    header = [columns.nth(i).get_attribute("data-column") for i in range(columns.count())]
    page.get_by_label("Search columns").fill("mail")
    expect(page.locator("#column-list li:visible")).to_have_count(
        sum("mail" in str(name).lower() for name in header)
    )
    page.get_by_label("Search columns").fill("")
    for i, name in enumerate(header):
        if name not in wanted:
            columns.nth(i).locator("input").uncheck()
    for position, name in enumerate(wanted):  # each moved up to its place
        while header.index(name) > position:
            page.get_by_role("button", name=f"Move {name} up", exact=True).click()
            at = header.index(name)
            header[at - 1], header[at] = header[at], header[at - 1]
    summary = f"{len(wanted)} of {len(header)} chosen"
    expect(page.locator("#column-summary")).to_have_text(summary)
    return summary


def test_a_running_export_shows_a_bar_its_share_and_the_time_left(
    page: Page, e2e_stack: Stack
) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    expect(page.get_by_role("heading", name="New export")).to_be_visible()
    # The page's own renderer, fed a report as the API returns it mid-run: 250 of 1,000
    # rows written 30 s after the run started.
    shown = page.evaluate(
        """() => {
            const started = new Date(Date.now() - 30000).toISOString();
            const cell = progressOf({rows_written: 250, rows_expected: 1000,
                                     started_at: started, created_at: started});
            const bar = cell.querySelector("progress");
            return {text: cell.textContent, value: bar.value, max: bar.max,
                    label: bar.getAttribute("aria-label")};
        }"""
    )
    assert shown["value"] == 25 and shown["max"] == 100
    assert shown["label"] == "25 percent written"
    assert shown["text"] == "25% of 1,000 · about 2 min left"  # 90 s to go at this pace
    unknown = page.evaluate("() => progressOf({rows_written: 40, rows_expected: null})")
    assert unknown == "40 so far"


def test_an_admin_repeats_the_filter_panels_export_on_a_schedule(
    page: Page, e2e_stack: Stack
) -> None:
    open_as(page, e2e_stack, token(ORG, "admin", "page-admin"))
    page.get_by_role("radio", name=re.compile(r"^Chat Conversations")).check()
    page.locator("#timezone").fill("UTC")  # the organisation's zone is the default
    page.get_by_text("Repeat this export on a schedule").click()
    page.get_by_label("Name").fill("Monthly chats for BI")
    page.get_by_label("File format").select_option("xlsx")
    related = page.get_by_role("group", name="Related sheets")
    related.get_by_role("checkbox", name="Messages").check()
    related.get_by_role("checkbox", name="Labels").check()
    page.get_by_label("When").select_option("custom")
    page.get_by_label("Cron expression").fill("every day")
    page.get_by_role("button", name="Save schedule").click()
    # The field named, the message in plain words.
    expect(page.locator("#schedule-message")).to_have_text(re.compile(r"^cron: not a cron"))
    page.get_by_label("When").select_option("0 6 1 * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedule-message")).to_contain_text('Schedule "Monthly chats for BI"')
    row = page.locator("#schedule-rows tr").filter(has_text="Monthly chats for BI")
    expect(row).to_contain_text("Every month, on the 1st at 06:00 (UTC)")
    expect(row).to_contain_text("Not yet")
    shoot(page, "13-schedule-saved")
    schedule_id = row.get_attribute("data-schedule-id")
    made = httpx.get(
        f"{e2e_stack.api_url}/api/wp-crm/reports/{ORG}/schedules/{schedule_id}",
        headers={"Authorization": f"Bearer {token(ORG, 'admin', 'page-admin')}"},
    ).json()
    assert made["filters"]["created"] == {"from": "-1 month start", "to": "-1 month end"}
    assert made["format"] == "xlsx" and made["related"] == ["messages", "labels"]

    row.get_by_role("button", name="Pause").click()
    expect(row).to_have_attribute("data-paused", "true")
    expect(row).to_contain_text("Paused")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=SHOTS / "14-schedule-paused-phone.png", full_page=True)
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#schedule-rows tr").filter(has_text="Monthly chats for BI")).to_have_count(
        0
    )


def test_the_count_is_an_upper_bound_where_filters_wait_for_the_run(
    page: Page, e2e_stack: Stack
) -> None:
    every_chat = every_row_counted(page, e2e_stack, "Chat")
    count = page.locator("#match-count")
    page.locator("details[data-group=flags] > summary").click()
    page.locator("[data-filter=has_notes] select").select_option("true")
    expect(count).to_have_attribute("data-state", "bound")
    expect(count).to_contain_text("At most")
    expect(count).to_contain_text("some filters are applied while the export runs")
    assert 0 < matching_rows(page) <= every_chat
    shoot(page, "16-count-upper-bound")


def test_a_late_count_for_filters_changed_since_is_never_shown(
    page: Page, e2e_stack: Stack
) -> None:
    """The race of two counts, step by step: the answer for the earlier filters is held
    back until the answer for the newer ones is on show; when it arrives, it is dropped."""
    every_ticket = every_row_counted(page, e2e_stack, "Ticket")
    held: list[Route] = []
    page.route("**/count", lambda route: held.append(route))
    page.locator("details[data-group=status] > summary").click()
    high = page.locator("[data-filter=priorities]").get_by_role("checkbox", name="High")
    with page.expect_request("**/count"):
        high.check()
    with page.expect_request("**/count"):
        high.uncheck()  # back to every ticket
    for _ in range(100):  # until Playwright has handed the second one to the handler too
        if len(held) == 2:
            break
        page.wait_for_timeout(50)
    older, newer = held
    newer.continue_()
    count = page.locator("#match-count")
    expect(count).to_have_text(f"{every_ticket:,} matching rows.")
    answers = int(count.get_attribute("data-answers") or 0)
    older.continue_()
    expect(count).to_have_attribute("data-answers", str(answers + 1))  # it came, and went
    expect(count).to_have_text(f"{every_ticket:,} matching rows.")
