"""The self-service portal's pages in a real browser: every page at desktop and phone
width, with no request to another host, no horizontal scrolling and no serious or
critical axe-core finding (``page_checks``), in light and dark mode; and the actions a
person takes there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keystead.directory.models import Event
from keystead.login.models import BackupCode, SignedInSession

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as
from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)
SIGNED_IN_PAGES = ("/", "/account/profile", "/account/sessions", "/account/browsers",
                   "/account/backup-codes", "/account/backup-codes/new", "/password/change/",
                   "/account/passkeys/", "/account/totp")
ANONYMOUS_PAGES = ("/login/", "/reset")


@pytest.fixture
def open_context(browser, live_server):
    """New browser contexts of a given width and colour scheme, closed after the test."""
    made = []

    def make(width: int = 1280, scheme: str = "light", **options):
        context = browser.new_context(base_url=live_server.url, color_scheme=scheme,
                                      viewport={"width": width, "height": 900}, **options)
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def test_the_checker_finds_what_it_looks_for(open_context, live_server, person):
    """The page check can fail: a missing label, a foreign request and overflow are caught.

    The content security policy would block the foreign request before it is made, so it
    is bypassed here: the check must hold even if the policy were loosened."""
    page = open_context(390, bypass_csp=True).new_page()
    page.route("https://elsewhere.example/**", lambda route: route.abort())
    page.add_init_script("""addEventListener('DOMContentLoaded', () => {
        const input = document.createElement('input'); document.body.append(input);
        const wide = document.createElement('div');
        wide.style.width = '2000px'; wide.style.height = '1em'; document.body.append(wide);
        fetch('https://elsewhere.example/x').catch(() => {}); })""")
    problems = check_page(page, "/login/", live_server.url)
    assert any("label" in p for p in problems), problems
    assert any("request to https://elsewhere.example/x" in p for p in problems), problems
    assert any("wider than the window" in p for p in problems), problems


def check_page(page, path: str, base_url: str) -> list[str]:
    """Load ``path``; every problem found, in words."""
    foreign = ForeignRequests(page, base_url)
    response = page.goto(path)
    problems = []
    if response is None or response.status != 200:
        problems.append(f"{path}: status {response.status if response else None}")
    page.wait_for_load_state("networkidle")
    problems += [f"{path}: request to {url}" for url in foreign.seen]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{path}: {overflow}px wider than the window")
    problems += [f"{path}: {finding}" for finding in accessibility_problems(page, axe_source())]
    return problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_portal_page_answers_stays_on_keystead_and_passes_axe(
        open_context, live_server, person, width, scheme):
    from keystead.login import backup_codes

    backup_codes.generate(person)  # so the "replace your codes?" page has something to say
    context = open_context(width, scheme)
    page = context.new_page()
    problems = []
    for path in ANONYMOUS_PAGES:
        problems += check_page(page, path, live_server.url)
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    for path in SIGNED_IN_PAGES:
        problems += check_page(context.new_page(), path, live_server.url)
    page.goto("/")
    page.screenshot(path=str(SCREENSHOT_DIR / f"keystead-portal-home-{width}-{scheme}.png"),
                    full_page=True)
    assert not problems, "\n".join(problems)


def test_dark_mode_follows_the_system_setting(open_context, person):
    colours = {}
    for scheme in ("light", "dark"):
        page = open_context(scheme=scheme).new_page()
        page.goto("/login/")
        colours[scheme] = page.evaluate(
            "[getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.querySelector('main')).backgroundColor]")
    assert colours["light"] == ["rgb(243, 245, 247)", "rgb(255, 255, 255)"]
    assert colours["dark"] == ["rgb(18, 23, 29)", "rgb(29, 36, 44)"]


def test_password_rules_come_first_and_focus_goes_to_the_field_in_error(page, person):
    from playwright.sync_api import expect

    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    page.goto("/password/change/")
    rules = page.locator("#password-rules")
    expect(rules).to_contain_text("be at least 15 characters long")
    expect(page.get_by_label("New password", exact=True)).to_have_attribute(
        "aria-describedby", "password-rules")
    page.get_by_label("Current password").fill(PERSON_PASSWORD)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again", exact=True).fill("short")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#id_new_password-errors")).to_contain_text("at least 15 characters")
    expect(page.get_by_label("New password", exact=True)).to_be_focused()
    expect(rules).to_be_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-change-focus.png"), full_page=True)


def test_sign_out_another_session_from_the_list(open_context, person):
    from playwright.sync_api import expect

    laptop = open_context().new_page()
    phone = open_context(390, user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/120.0 "
                                         "Mobile Safari/537.36").new_page()
    for page in (laptop, phone):
        sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
        page.wait_for_url(re.compile(r"/$"))
    laptop.get_by_role("link", name="Where you're signed in").click()
    expect(laptop.locator("#sessions li")).to_have_count(2)
    phone.goto("/account/sessions")
    # Headless Chromium may refuse to capture a page whose window is behind another one.
    phone.bring_to_front()
    phone.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-sessions-390.png"),
                     full_page=True)
    laptop.get_by_role("button", name=re.compile(r"^Sign out Chrome on Android")).click()
    expect(laptop.locator(".messages")).to_contain_text("That session is signed out")
    expect(laptop.locator("#sessions li")).to_have_count(1)
    assert SignedInSession.objects.filter(user=person).count() == 1
    assert Event.objects.filter(action="user.session.end", actor=person).count() == 1
    phone.reload()
    expect(phone).to_have_url(re.compile(r"/login/"))


def test_backup_codes_copy_download_and_confirm_before_replacing(open_context, person):
    from playwright.sync_api import expect

    context = open_context(accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    page.goto("/account/backup-codes")
    page.get_by_role("button", name="Make 10 backup codes").click()
    expect(page.locator("#backup-codes code")).to_have_count(10)
    codes = [c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]
    assert len(codes) == 10

    page.get_by_role("button", name="Copy the codes").click()
    expect(page.locator("#backup-codes-copy-status")).to_contain_text("Copied 10 codes")
    page.screenshot(path=str(SCREENSHOT_DIR / "keystead-portal-backup-codes.png"),
                    full_page=True)
    assert page.evaluate("navigator.clipboard.readText()").split() == codes

    with page.expect_download() as info:
        page.get_by_role("button", name="Download as a text file").click()
    download = info.value
    assert download.suggested_filename == "keystead-backup-codes.txt"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert all(code in text for code in codes)
    assert Event.objects.filter(action="backup_codes.download", actor=person).count() == 1

    page.goto("/account/backup-codes")
    before = set(BackupCode.objects.values_list("code_hash", flat=True))
    page.get_by_role("link", name="Make a new set of 10 codes").click()
    expect(page.get_by_role("heading", name="Replace your backup codes?")).to_be_visible()
    page.get_by_role("link", name="Keep my current codes").click()
    assert set(BackupCode.objects.values_list("code_hash", flat=True)) == before
    page.get_by_role("link", name="Make a new set of 10 codes").click()
    page.get_by_role("button", name="Replace my backup codes").click()
    expect(page.locator("#backup-codes code")).to_have_count(10)
    assert set(BackupCode.objects.values_list("code_hash", flat=True)).isdisjoint(before)


def test_copy_falls_back_to_selecting_the_codes(open_context, person):
    """Without clipboard permission the page selects the codes and says how to copy them."""
    from playwright.sync_api import expect

    page = open_context().new_page()
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    sign_in_as(page, "ada@example.com", PERSON_PASSWORD)
    page.goto("/account/backup-codes")
    page.get_by_role("button", name="Make 10 backup codes").click()
    page.get_by_role("button", name="Copy the codes").click()
    expect(page.locator("#backup-codes-copy-status")).to_contain_text("press Ctrl+C")
    assert page.evaluate("window.getSelection().toString()").split() == [
        c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]

