"""Guessability in the portal and the console: the change-password page refuses long but
guessable passwords with the default policy; the logon settings page shows and saves the
minimum score. (The REST API's side is in tests/api/test_policy_api.py.)"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from keystead.directory.models import Event, User
from keystead.policy.changes import SETTING_FIELDS, settings_of
from keystead.policy.models import LogonPolicy

pytestmark = pytest.mark.django_db

CURRENT = "Harbour-Violet-Compass-73"


@pytest.fixture
def ada_browser() -> tuple[User, Client]:
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=CURRENT)
    browser = Client()
    browser.force_login(ada)
    return ada, browser


def change(browser: Client, new: str):
    return browser.post(reverse("password_change"), {
        "current_password": CURRENT, "new_password": new, "confirm_password": new})


@pytest.mark.parametrize(("password", "found"), [
    ("passwordpassword", "repeats like"),
    ("1234567890123456", "similar to a commonly used password"),
    ("asdfghjkl;'zxcvbnm", "straight rows of keys are easy to guess"),
])
def test_guessable_passwords_are_refused_with_what_was_found(ada_browser, password, found):
    ada, browser = ada_browser
    page = change(browser, password)
    assert page.status_code == 200  # the form again, with the reasons
    text = page.content.decode()
    assert "The password is too easy to guess" in text
    assert found in text.replace("&quot;", '"').replace("&#x27;", "'")
    assert "add another word or two" in text
    ada.refresh_from_db()
    assert ada.check_password(CURRENT)


def test_a_strong_passphrase_is_accepted(ada_browser):
    ada, browser = ada_browser
    page = change(browser, "Quarry lantern mosaic orchid")
    assert page.status_code == 302, page.content.decode()[:2000]
    ada.refresh_from_db()
    assert ada.check_password("Quarry lantern mosaic orchid")


def test_the_console_shows_and_saves_the_minimum_score(admin_user):
    console = Client()
    console.force_login(admin_user)
    url = "/admin/policy/logonpolicy/1/change/"
    page = console.get(url).content.decode()
    assert "Minimum strength score (zxcvbn, 0-4)" in page
    assert '<option value="3" selected>3 - safely unguessable' in page
    assert "Only the first 32 characters are scored" in page
    values = {**settings_of(LogonPolicy.current()), "min_strength": 4}
    data = {name: value for name, value in values.items() if not isinstance(value, bool)}
    data.update({name: "on" for name, value in values.items() if value is True})
    saved = console.post(url, {**data, "_save": "Save"})
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert LogonPolicy.current().min_strength == 4
    assert Event.objects.get(action="policy.update").detail["changed"] == {
        "min_strength": [3, 4]}
    assert "min_strength" in SETTING_FIELDS
