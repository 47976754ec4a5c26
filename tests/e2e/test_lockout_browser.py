"""Lockout in a real browser: three wrong passwords lock, the lock looks like any failure,
and the account unlocks by itself once the lockout period is over (time moved by the test).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login.passwords import GENERIC_FAILURE
from keystead.policy.changes import update_installation_policy

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Harbour-Violet-Compass-73"


def submit_sign_in(page, email: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def failure_text(page) -> str:
    from playwright.sync_api import expect

    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    return alert.inner_text().strip()


def test_three_failures_lock_and_the_lock_ends_after_the_period(page, deliver):
    from playwright.sync_api import expect

    update_installation_policy({"max_failures": 3, "lock_minutes": 15}, actor=OPERATOR, door="test")
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)

    answers = []
    for attempt in range(3):
        submit_sign_in(page, "ada@example.com", f"Not-my-password-{attempt}")
        answers.append(failure_text(page))
    assert answers == [GENERIC_FAILURE] * 3
    ada.refresh_from_db()
    assert ada.is_locked() and ada.failed_logins == 3
    assert ada.locked_until is not None
    assert [m.subject for m in deliver()] == ["Your Keystead account is locked"]

    # The right password is refused too, with exactly the answer a wrong one gets.
    submit_sign_in(page, "ada@example.com", PASSWORD)
    assert failure_text(page) == GENERIC_FAILURE
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-sign-in-locked.png"), full_page=True)
    refused = Event.objects.filter(action="login", outcome="failure", target_id=str(ada.pk))
    assert refused.latest("id").detail["reason"] == "account locked"
    assert Event.objects.filter(action="user.lock", target_id=str(ada.pk)).count() == 1

    # time-machine moves the clock of the whole process, live-server thread included.
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=True):
        submit_sign_in(page, "ada@example.com", PASSWORD)
        expect(page).not_to_have_url("/login/")
        expect(page.get_by_role("alert")).to_have_count(0)
    ada.refresh_from_db()
    assert not ada.is_locked() and ada.failed_logins == 0
    unlock = Event.objects.get(action="user.unlock", target_id=str(ada.pk))
    assert unlock.detail == {"reason": "lockout period ended"}
    assert Event.objects.filter(action="login", outcome="success",
                                target_id=str(ada.pk)).count() == 1


def test_an_unknown_account_gets_the_same_answer(page):
    submit_sign_in(page, "nobody@example.com", PASSWORD)
    assert failure_text(page) == GENERIC_FAILURE
