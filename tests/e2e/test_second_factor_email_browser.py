"""Email codes and remembered browsers in a real browser, with mail through a real SMTP server.

Codes arrive at aiosmtpd (``smtp_server``) and are read from the delivered
message, as a person would. Time is moved with time_machine, which patches
the clock of the whole process, so the live server's thread sees it too.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login.models import RememberedBrowser
from keystead.login.passwords import GENERIC_FAILURE
from keystead.policy.changes import update_installation_policy
from keystead.policy.models import LogonPolicy

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_factor(smtp_server, mail_sender, person):
    """Everyone signs in with a password and a code by email; the background sender
    delivers it to aiosmtpd, as in a web process."""
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="password+2fa", code_max_attempts=3,
                                            remember_days=0)
    return smtp_server


def code_in(box, count: int) -> str:
    """The code in the ``count``-th message the SMTP server received."""
    message = box.wait_for(count)[count - 1]
    assert message["To"] == "ada@example.com"
    return re.search(r"^\s+(\d{4,10})\s*$", box.text_of(message), re.M).group(1)


def enter_code(page, code: str, *, remember: bool = False) -> None:
    page.get_by_label("Code").fill(code)
    if remember:
        page.get_by_label(re.compile(r"Remember this browser for \d+ days?")).check()
    page.get_by_role("button", name="Verify").click()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))


def expect_home(page) -> None:
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()


def expect_code_page(page) -> None:
    expect(page.get_by_role("heading", name="Enter the code we emailed you")).to_be_visible()


def test_sign_in_with_an_emailed_code(page, two_factor):
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    expect_code_page(page)
    expect(page.get_by_text("Remember this browser")).to_have_count(0)  # N = 0
    code = code_in(two_factor, 1)
    assert len(code) == 6
    enter_code(page, code)
    expect_home(page)
    page.screenshot(path=str(SCREENSHOT_DIR / "email-code-signed-in.png"))
    assert Event.objects.filter(action="login.second_factor", outcome="success",
                                detail__method="email").count() == 1


def test_wrong_codes_lock_and_then_nothing_works(page, two_factor):
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    expect_code_page(page)
    code = code_in(two_factor, 1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(2):
        enter_code(page, wrong)
        expect(page.get_by_text("That code is not right")).to_be_visible()
    enter_code(page, wrong)
    expect(page.get_by_text("your account is now locked")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/$"))
    ada = User.objects.get(email="ada@example.com")
    assert ada.is_locked() and ada.failed_logins == 3
    lock_notice = two_factor.wait_for(2)[1]
    assert "locked" in lock_notice["Subject"]
    # The right code, sent to the code page, is refused: no sign-in is pending any more.
    page.goto("/login/verify/email/")
    expect(page).to_have_url(re.compile(r"/login/$"))
    # The right password is refused like any failure while locked.
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(GENERIC_FAILURE)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    assert len(two_factor.messages) == 2  # no new code was sent to a locked account


def test_remembered_browser_skips_the_code_until_its_period_ends(page, two_factor):
    LogonPolicy.objects.filter(pk=1).update(remember_days=30)
    start = timezone.now()
    with time_machine.travel(start, tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        enter_code(page, code_in(two_factor, 1), remember=True)
        expect_home(page)
        cookie = next(c for c in page.context.cookies() if c["name"] == "keystead_remembered")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        sign_out(page)
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_home(page)  # no code asked
        assert len(two_factor.messages) == 1
        page.goto("/account/browsers")
        expect(page.get_by_text("(this browser)")).to_be_visible()
        page.goto("/")
        sign_out(page)
    with time_machine.travel(start + timedelta(days=29, hours=23), tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_home(page)
        sign_out(page)
    with time_machine.travel(start + timedelta(days=30, hours=1), tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_code_page(page)
        enter_code(page, code_in(two_factor, 2))
        expect_home(page)


def remembered_then_changed(page, box, first: int, then: int) -> timezone.datetime:
    """Remember this browser with N = ``first``, then change N to ``then`` (as an admin would)."""
    LogonPolicy.objects.filter(pk=1).update(remember_days=first)
    start = timezone.now()
    with time_machine.travel(start, tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        enter_code(page, code_in(box, 1), remember=True)
        expect_home(page)
        sign_out(page)
        update_installation_policy({"remember_days": then}, actor=OPERATOR, door="test")
    assert RememberedBrowser.objects.get().days == first
    return start


def test_shortening_n_keeps_the_period_already_granted(page, two_factor):
    start = remembered_then_changed(page, two_factor, 30, 5)
    with time_machine.travel(start + timedelta(days=6), tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_home(page)  # still remembered: the 30 days it was granted with
        sign_out(page)
    with time_machine.travel(start + timedelta(days=31), tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_code_page(page)
        # The new period applies from this grant on.
        expect(page.get_by_label("Remember this browser for 5 days")).to_be_visible()
        enter_code(page, code_in(two_factor, 2), remember=True)
        expect_home(page)
    assert RememberedBrowser.objects.latest("created_at").days == 5


def test_lengthening_n_does_not_lengthen_the_period_already_granted(page, two_factor):
    start = remembered_then_changed(page, two_factor, 5, 30)
    with time_machine.travel(start + timedelta(days=6), tick=True):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        expect_code_page(page)  # asked again: the 5 days it was granted with are over
        expect(page.get_by_label("Remember this browser for 30 days")).to_be_visible()
        enter_code(page, code_in(two_factor, 2))
        expect_home(page)
