"""The admin console in a real browser: sign in, refused and accepted add, search."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, User

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_user_is_refused_without_family_name_then_found_by_search(page, sign_in):
    from playwright.sync_api import expect

    sign_in("/admin/")
    expect(page).to_have_title("Administration | Keystead")
    expect(page.locator("#site-name")).to_contain_text("Keystead")

    page.get_by_role("link", name="Users").first.click()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Given name").fill("Grace")
    page.get_by_role("button", name="Save", exact=True).click()

    error = page.locator(".field-family_name .errorlist")
    expect(error).to_contain_text("Family name is required")
    expect(page.locator(".errornote")).to_be_visible()
    assert not User.objects.filter(email="grace@example.com").exists()
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-add-refused.png"), full_page=True)

    page.get_by_label("Family name").fill("Hopper")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text("grace@example.com")
    user = User.objects.get(email="grace@example.com")
    assert user.family_name == "Hopper"
    assert Event.objects.filter(action="user.create", target_id=str(user.pk)).exists()

    page.goto("/admin/directory/user/")
    page.locator("#searchbar").fill("hopper")
    page.locator("#changelist-search input[type=submit]").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("grace@example.com")
    page.goto("/admin/directory/user/")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-admin-users.png"), full_page=True)
