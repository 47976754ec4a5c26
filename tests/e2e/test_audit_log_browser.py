"""The audit log in a real browser: filter with the box, page through, download what is shown."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import RequestFactory

from keystead.directory import audit
from keystead.directory.models import Event, Outcome

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_then_download_the_filtered_events(page, sign_in, admin_user):
    from playwright.sync_api import expect

    office = RequestFactory().get("/", REMOTE_ADDR="10.20.30.40")
    for n in range(3):
        audit.record("login", request=office, actor_label="anonymous", outcome=Outcome.FAILURE,
                     detail={"username": f"=guess{n}"})
    audit.record("login", actor=admin_user, target=admin_user, outcome=Outcome.DENIED,
                 detail={"method": "password", "reason": "password change required"})
    sign_in("/admin/directory/event/")
    expect(page.locator("#content h1")).to_have_text("Audit log")
    expect(page.locator("#result_list .ks-notice")).to_have_text("password change required")

    page.get_by_label("Client address").fill("10.0.0.0/8")
    page.get_by_label("Outcome").select_option("failure")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-audit-log.png"), full_page=True)

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(waiting.value.path().read_text(encoding="utf-8"))))
    assert [(row[2], row[4], row[8]) for row in rows[1:]] == [("login", "anonymous",
                                                               "10.20.30.40")] * 3
    assert sorted(row[-1] for row in rows[1:]) == [f'{{"username": "=guess{n}"}}'
                                                   for n in range(3)]
    export = Event.objects.get(action="audit.export")
    assert export.detail["count"] == 3
    assert export.detail["filter"]["client"] == "10.0.0.0/8"

    page.get_by_label("Client address").fill("10.0.0.999")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".messagelist .error")).to_contain_text("Client address: '10.0.0.999'")
    expect(page.locator("#result_list")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-audit-log-refused.png"), full_page=True)
