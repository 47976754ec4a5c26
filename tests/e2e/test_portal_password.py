"""Choosing a new password in a real browser: self-service change and forced change."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.policy.models import LogonPolicy

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPLIANT = "Lantern-Quartz-887-Heron!"


def set_policy(**values) -> None:
    LogonPolicy.objects.update_or_create(pk=1, defaults=values)


def choose(page, password: str, confirm: str | None = None) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again", exact=True).fill(confirm or password)


def test_change_shows_every_failing_rule_then_accepts_a_good_password(page, person):
    from playwright.sync_api import expect

    # The person's current password still meets this policy, so sign-in is not forced.
    set_policy(min_length=16, min_digits=2, min_uppercase=1, min_symbols=1, reuse_blocked=-1)
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    page.get_by_role("link", name="Change your password").click()
    expect(page).to_have_url("/password/change/")

    page.get_by_label("Current password").fill(PERSON_PASSWORD)
    choose(page, "lovelace")
    page.get_by_role("button", name="Change password").click()
    errors = page.locator("#id_new_password-errors li")
    expect(errors).to_have_count(6)
    for text in ("must be at least 16 characters long", "must contain at least 2 of: number",
                 "must contain an uppercase letter", "must contain a symbol",
                 "is too easy to guess", "must not contain your name or email address"):
        expect(page.locator("#id_new_password-errors")).to_contain_text(text)
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-change-rules.png"),
                    full_page=True)
    assert User.objects.get(pk=person.pk).check_password(PERSON_PASSWORD)

    page.get_by_label("Current password").fill(PERSON_PASSWORD)
    choose(page, "password")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#id_new_password-errors")).to_contain_text("is too common")

    page.get_by_label("Current password").fill(PERSON_PASSWORD)
    choose(page, PERSON_PASSWORD)  # re-use is blocked: one rule, named
    page.get_by_role("button", name="Change password").click()
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text("must not be one of your previous passwords")

    page.get_by_label("Current password").fill(PERSON_PASSWORD)
    choose(page, COMPLIANT)
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url("/")
    expect(page.locator(".messages")).to_contain_text("Your password is changed")
    assert User.objects.get(pk=person.pk).check_password(COMPLIANT)
    assert Event.objects.filter(action="user.password.change", target_id=str(person.pk))


def _forced_change(page, person, reason: str, screenshot: str | None = None) -> None:
    from playwright.sync_api import expect

    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    expect(page).to_have_url("/password/change-required/")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(page.locator(".reasons")).to_contain_text(reason)
    page.goto("/")  # no session yet: the forced change comes first
    expect(page).to_have_url("/login/?next=/")
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    if screenshot:
        page.screenshot(path=str(SCREENSHOT_DIR / screenshot), full_page=True)

    choose(page, "short1")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#id_new_password-errors")).to_contain_text("at least")
    choose(page, COMPLIANT)
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url("/")
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Your new password is saved")
    assert User.objects.get(pk=person.pk).check_password(COMPLIANT)


def test_tightened_policy_forces_a_change_naming_the_broken_rules(page, person):
    set_policy(min_digits=3, min_symbols=4)  # the password had 2 numbers and 3 symbols
    _forced_change(page, person, "must contain at least 3 of: number",
                   screenshot="keystead-portal-forced-change.png")
    assert Event.objects.filter(action="login", outcome="denied",
                                detail__reason="password change required").exists()


def test_tightened_policy_lists_every_broken_rule(page, person):
    from playwright.sync_api import expect

    set_policy(min_digits=3, min_symbols=4, min_length=30)
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    reasons = page.locator(".reasons")
    for text in ("at least 30 characters", "at least 3 of: number", "at least 4 of: symbol"):
        expect(reasons).to_contain_text(text)


def test_expired_password_forces_a_change(page, person):
    set_policy(expire_days=30, warn_days=7)
    later = timezone.now() + timedelta(days=31)
    # time-machine moves the clock of the whole process, so the live server's thread too.
    with time_machine.travel(later, tick=True):
        _forced_change(page, person, "Your password has expired.")
        changed_at = User.objects.get(pk=person.pk).password_changed_at
    assert changed_at >= later - timedelta(minutes=1)


def test_forced_change_page_on_a_phone(phone_page, person):
    from playwright.sync_api import expect

    set_policy(min_digits=3)
    sign_in_as(phone_page, "ada@example.com", PERSON_PASSWORD)
    expect(phone_page).to_have_url("/password/change-required/")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, "nothing sticks out sideways on a phone"
    phone_page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-forced-change-phone.png"),
                          full_page=True)
