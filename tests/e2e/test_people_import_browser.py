"""An administrator imports people from CSV and exports the list, in a real browser."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, User

from .conftest import SCREENSHOT_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BROKEN = (
    "Email;First name;Last name\n"
    "ada@example.com;Ada;Lovelace\n"
    "grace@example;Grace;\n"
)
FIXED = (
    "Email;First name;Last name;active\n"
    "ada@example.com;Ada;Lovelace;yes\n"
    "grace@example.com;Grace;Hopper;no\n"
)


def choose_file(page, name: str, text: str) -> None:
    page.get_by_label("CSV file").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": text.encode()})
    page.get_by_role("button", name="Show preview").click()


def test_upload_fix_preview_import_and_export(page, sign_in, tmp_path):
    from playwright.sync_api import expect

    sign_in("/admin/directory/user/")
    page.get_by_role("link", name="Import people").click()
    expect(page).to_have_url("/admin/directory/user/import/")
    page.screenshot(path=str(SCREENSHOT_DIR / "people-import-upload.png"), full_page=True)

    # A file with problems: each is listed by line and column, and there is no Import.
    choose_file(page, "broken.csv", BROKEN)
    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("Line 3, column 'Email': Email 'grace@example'")
    expect(problems.nth(1)).to_contain_text("Line 3, column 'Last name': Family name is required")
    expect(page.locator("#import-rows tr.ks-problem")).to_have_count(1)
    expect(page.get_by_role("button", name="Import 2 people")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOT_DIR / "people-import-problems.png"), full_page=True)
    assert not User.objects.filter(email="ada@example.com").exists()

    # The corrected file: every row new, Import offered.
    page.get_by_role("link", name="Upload a corrected file").click()
    choose_file(page, "people.csv", FIXED)
    expect(page.locator("#import-summary")).to_contain_text("2 people will be added")
    expect(page.locator("#import-rows tr.ks-new")).to_have_count(2)
    page.screenshot(path=str(SCREENSHOT_DIR / "people-import-preview.png"), full_page=True)
    # The progress line's script is served from Keystead (the CSP allows no inline script).
    script = page.locator("script[src*='people_import.js']").get_attribute("src")
    assert page.request.get(script).ok
    page.get_by_role("button", name="Import 2 people").click()

    expect(page).to_have_url("/admin/directory/user/")
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Imported 2 people from people.csv.")
    assert set(User.objects.filter(is_staff=False).values_list("email", "is_active")) == {
        ("ada@example.com", True), ("grace@example.com", False)}
    assert Event.objects.get(action="user.import").detail["count"] == 2

    # Export what the list shows (searched), and read it back.
    page.get_by_role("textbox", name="Search").fill("hopper")
    page.get_by_role("button", name="Search").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Export people").click()
    target = tmp_path / "export.csv"
    info.value.save_as(target)
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines == ["email,username,given_name,family_name,external_id,active",
                     "grace@example.com,grace@example.com,Grace,Hopper,,no"]


def test_cancel_in_the_browser_writes_nothing(page, sign_in):
    from playwright.sync_api import expect

    sign_in("/admin/directory/user/import/")
    choose_file(page, "people.csv", FIXED)
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url("/admin/directory/user/")
    expect(page.locator(".messagelist")).to_contain_text("Import cancelled: nobody was added.")
    assert not User.objects.filter(is_staff=False).exists()
