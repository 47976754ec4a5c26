"""Signing in to the self-service portal in a real browser."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event
from keystead.login.passwords import GENERIC_FAILURE

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_lands_on_the_portal_home(page, person):
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url("/login/?next=/")
    expect(page.get_by_role("link", name="Forgot your password?")).to_have_attribute(
        "href", "/reset")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-sign-in.png"), full_page=True)
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD, path=page.url)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page).to_have_url("/")
    expect(page.locator("main")).to_contain_text("ada@example.com")
    assert Event.objects.filter(action="login", outcome="success",
                                target_id=str(person.pk)).exists()


def test_sign_in_by_user_name_in_any_case(page, person):
    from playwright.sync_api import expect

    person.username = "E12345"
    person.save(update_fields=["username"])
    page.goto("/login/")
    expect(page.get_by_label("Email or user name")).to_be_visible()
    sign_in_as(page, "e12345", PERSON_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Your user name is E12345")
    assert Event.objects.filter(action="login", outcome="success",
                                target_id=str(person.pk)).exists()


@pytest.mark.parametrize("typed", ["ada@example.com", "E12345", "nobody-by-that-name"])
def test_wrong_password_shows_the_generic_answer(page, person, typed):
    from playwright.sync_api import expect

    person.username = "E12345"
    person.save(update_fields=["username"])
    sign_in_as(page, typed, "not-the-password")
    expect(page.get_by_role("alert")).to_have_text(GENERIC_FAILURE)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
