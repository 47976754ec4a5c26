"""The logon settings page in a real browser: grouped settings, a refused value, a save."""

from __future__ import annotations

import pytest

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group
from keystead.policy.changes import save_group_policy
from keystead.policy.models import LogonPolicy

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_change_logon_settings_with_a_refused_value_first(page, sign_in):
    from playwright.sync_api import expect

    save_group_policy(Group.objects.create(name="Admins"), {"min_length": 20},
                      actor=OPERATOR, door="test")
    sign_in("/admin/")
    page.get_by_role("link", name="Logon settings").click()
    expect(page).to_have_url("/admin/policy/logonpolicy/1/change/")
    expect(page.locator("h1")).to_have_text("Logon settings")
    for heading in ("Password rules", "Re-use and expiry", "Lockout"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_role("link", name="Admins")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-logon-settings.png"),
                    full_page=True)

    page.get_by_label("Maximum password length").fill("40")
    page.get_by_label("Maximum consecutive failed sign-ins before locking").fill("5")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-max_length .errorlist")).to_contain_text(
        "max_length must be from 64 to 4096")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-logon-settings-refused.png"),
                    full_page=True)
    assert LogonPolicy.current().max_failures == 10

    page.get_by_label("Maximum password length").fill("128")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_have_text("The logon settings were saved.")
    assert LogonPolicy.current().max_failures == 5
    event = Event.objects.get(action="policy.update")
    assert event.detail == {"door": "admin", "changed": {"max_failures": [10, 5]}}
