"""A help desk member unlocks a locked-out person from the console, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.policy.changes import update_installation_policy
from keystead.secret import Secret

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HELPDESK_PASSWORD = "Brass-Kettle-Orbit-2024"
PERSON_PASSWORD = "Harbour-Violet-Compass-73"


def submit_sign_in(page, email: str, password: str, path: str = "/login/") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def helpdesk() -> User:
    desk = User.objects.create_user("desk@example.com", "Dana", "Frost",
                                    password=HELPDESK_PASSWORD, is_staff=True)
    desk.groups.add(AuthGroup.objects.get(name="Helpdesk"))
    return desk


@pytest.fixture
def locked_person() -> User:
    """Ada, locked by three real failed sign-ins, until an administrator unlocks her."""
    update_installation_policy({"max_failures": 3, "lock_minutes": 0}, actor=OPERATOR, door="test")
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                                   password=PERSON_PASSWORD)
    for _ in range(3):
        sign_in_with_password(ada.email, Secret("Not-her-password-at-all"))
    ada.refresh_from_db()
    assert ada.is_locked() and ada.locked_until is None
    return ada


def test_helpdesk_unlocks_from_the_locked_list_and_the_person_signs_in(
        page, browser, live_server, helpdesk, locked_person):
    from playwright.sync_api import expect

    User.objects.create_user("grace@example.com", "Grace", "Hopper")  # not locked
    submit_sign_in(page, helpdesk.email, HELPDESK_PASSWORD, path="/login/?next=/admin/")
    expect(page).to_have_title("Administration | Keystead")

    page.goto("/admin/directory/user/")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.locator("#changelist-filter").get_by_role("link", name="Locked", exact=True).click()
    expect(page).to_have_url("/admin/directory/user/?locked=yes")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-locked-users.png"), full_page=True)

    rows.first.get_by_role("link", name="Locked out (click to unlock)").click()
    expect(page.locator("#content")).to_contain_text(
        "Are you sure you want to unlock ada@example.com?")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-unlock-confirm.png"),
                    full_page=True)
    locked_person.refresh_from_db()
    assert locked_person.is_locked()  # asking changed nothing
    page.get_by_role("button", name="OK").click()

    banner = page.locator(".messagelist .success")
    expect(banner).to_have_text("ada@example.com is now unlocked.")
    colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    red, green, blue = (int(c) for c in colour[colour.index("(") + 1:-1].split(",")[:3])
    assert green > red and green > blue, colour  # the green success banner
    expect(page).to_have_url("/admin/directory/user/?locked=yes")
    expect(page.locator("#result_list")).to_have_count(0)  # nobody is locked any more
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-unlocked.png"), full_page=True)

    event = Event.objects.get(action="user.unlock", target_id=str(locked_person.pk))
    assert event.actor == helpdesk
    assert event.detail == {"door": "admin", "was_locked": True}

    # Ada, in her own browser, signs in again.
    context = browser.new_context(base_url=live_server.url)
    try:
        ada_page = context.new_page()
        submit_sign_in(ada_page, "ada@example.com", PERSON_PASSWORD)
        expect(ada_page).not_to_have_url("/login/")
        expect(ada_page.get_by_role("alert")).to_have_count(0)
    finally:
        context.close()
    assert sign_in_with_password("ada@example.com",
                                 Secret(PERSON_PASSWORD)).result is Result.OK


def test_without_unlock_rights_there_is_no_link_and_no_way_in(page, locked_person):
    from playwright.sync_api import expect

    auditor = User.objects.create_user("audit@example.com", "Avery", "Stone",
                                       password=HELPDESK_PASSWORD, is_staff=True)
    auditor.groups.add(AuthGroup.objects.get(name="Auditor"))
    submit_sign_in(page, auditor.email, HELPDESK_PASSWORD, path="/login/?next=/admin/")
    expect(page).to_have_title("Administration | Keystead")
    page.goto("/admin/directory/user/?locked=yes")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Locked out (click to unlock)")).to_have_count(0)
    response = page.goto(f"/admin/directory/user/{locked_person.pk}/unlock/")
    assert response is not None and response.status == 403
