"""Signing in to the self-service portal in a real browser."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event

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


def test_wrong_password_shows_the_generic_answer(page, person):
    from playwright.sync_api import expect

    sign_in_as(page, "ada@example.com", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
