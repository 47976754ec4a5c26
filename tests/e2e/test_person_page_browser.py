"""A person's console page in Chromium: a superuser and the help desk, on a laptop and a phone.

The page must answer 200, ask nothing of any host but Keystead's, fit the screen,
speak no stock Django words, break no rule of the content security policy and
pass axe-core without a serious or critical violation. The superuser's laptop
view of a person with something in every section is the screenshot in
``docs/images/keystead-person.png``; the clock is set to a fixed moment so the
picture stays the same from run to run. Then a help desk member signs the
person out everywhere through the confirmation page, as an administrator would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from keystead.directory import audit
from keystead.directory.models import Group, User
from keystead.login.models import Passkey, RememberedBrowser, SignedInSession, TotpDevice
from keystead.login.sessions import BROWSER_NOTE

from .conftest import PERSON_PASSWORD, sign_in_as
from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "keystead-person.png"
MOMENT = datetime(2026, 3, 10, 14, 5, 10, tzinfo=UTC)
ROOT_PASSWORD = "correct horse battery staple"
STOCK = ("Change user", "Site administration", "Django administration", "Welcome,",
         "View site", "Log out", "Hold down", "Choose all", "Available user permissions",
         "Raw passwords are not stored", "algorithm", "iterations", "memory cost")
SECTIONS = ("Actions", "Directory groups and admin roles", "Second factors and passkeys",
            "Remembered browsers", "Active sessions", "Applications", "Recent audit events")


@pytest.fixture
def clock():
    with time_machine.travel(MOMENT, tick=True):
        yield


@pytest.fixture
def ada(clock, live_server) -> User:
    """Ada Lovelace with something in every section of her page."""
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                                   password=PERSON_PASSWORD, username="alovelace",
                                   external_id="E-1815")
    for name in ("Engineering", "Analytical Engine team"):
        Group.objects.create(name=name).members.add(ada)
    now = MOMENT
    TotpDevice.objects.create(user=ada, name="Pixel 8", secret_encrypted="x",
                              confirmed_at=now - timedelta(days=40),
                              last_used_at=now - timedelta(hours=3))
    Passkey.objects.create(user=ada, name="YubiKey 5C", credential_id="cred-ada",
                           public_key=b"k", created_at=now - timedelta(days=12),
                           last_used_at=now - timedelta(minutes=50))
    RememberedBrowser.objects.create(
        user=ada, token_hash="1" * 64, created_at=now - timedelta(days=2),
        expires_at=now + timedelta(days=28), days=30, user_agent="Firefox on Linux",
        ip="192.0.2.7", last_used_at=now - timedelta(hours=3))
    laptop = Client()
    laptop.force_login(ada)  # a test sign-in notes no browser: note one, as a real one would
    session = laptop.session
    session[BROWSER_NOTE] = {"browser": "Firefox on Linux", "ip": "192.0.2.7"}
    session.save()
    Application = get_application_model()
    for name, scope in (("Wiki", "openid email profile"), ("Payroll", "openid email")):
        app = Application.objects.create(
            name=name, client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=f"https://{name.lower()}.example.com/cb",
            algorithm=Application.RS256_ALGORITHM)
        access = get_access_token_model().objects.create(
            user=ada, application=app, token=f"a-{name}", scope=scope,
            expires=now + timedelta(minutes=55))
        get_refresh_token_model().objects.create(user=ada, application=app,
                                                 token=f"r-{name}", access_token=access)
        audit.record("oidc.consent", actor=ada, target=ada,
                     detail={"client_id": app.client_id, "scopes": scope.split()})
    for action, outcome in (("login", "failure"), ("login", "success"),
                            ("login.second_factor", "success")):
        audit.record(action, actor_label="anonymous" if outcome == "failure" else ada.email,
                     target=ada, outcome=outcome, detail={"method": "password"})
    return ada


@pytest.fixture
def helpdesk(transactional_db) -> User:
    desk = User.objects.create_user("desk@example.com", "Dana", "Frost",
                                    password=PERSON_PASSWORD, is_staff=True)
    desk.groups.set(AuthGroup.objects.filter(name="Helpdesk"))
    return desk


def open_tab(browser, live_server, width: int):
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    return context, context.new_page()


def csp_problems(tab) -> list[str]:
    """Messages the browser logs when the content security policy blocks something."""
    seen: list[str] = []
    tab.on("console", lambda message: seen.append(message.text)
           if "Content Security Policy" in message.text else None)
    return seen


def assert_sound(tab, live_server, width: int, foreign: ForeignRequests,
                 blocked: list[str]) -> None:
    assert not foreign.seen, foreign.seen
    assert not blocked, blocked
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    text = tab.content()
    for phrase in STOCK:
        assert phrase not in text, phrase
    for heading in SECTIONS:
        assert tab.get_by_role("heading", name=heading, exact=True).count() == 1, heading
    problems = accessibility_problems(tab, axe_source())
    assert not problems, problems


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("viewer", ["superuser", "helpdesk"])
def test_the_page_answers_fits_and_passes_axe(viewer, width, ada, admin_user, helpdesk,
                                              browser, live_server):
    from playwright.sync_api import expect

    who = admin_user if viewer == "superuser" else helpdesk
    password = ROOT_PASSWORD if viewer == "superuser" else PERSON_PASSWORD
    context, tab = open_tab(browser, live_server, width)
    try:
        foreign = ForeignRequests(tab, live_server.url)
        blocked = csp_problems(tab)
        sign_in_as(tab, who.email, password, "/login/?next=/admin/")
        expect(tab).to_have_title("Administration | Keystead")
        response = tab.goto(f"/admin/directory/user/{ada.pk}/change/")
        assert response.status == 200
        expect(tab.locator("h1")).to_have_text("User: ada@example.com")
        expect(tab.locator("#person-factors")).to_contain_text("YubiKey 5C")
        expect(tab.locator("#person-applications")).to_contain_text("Payroll")
        expect(tab.locator("#person-memberships")).to_contain_text("Analytical Engine team")
        expect(tab.locator("#person-sessions")).to_contain_text("Firefox on Linux")
        expect(tab.locator(".field-password_state")).to_contain_text("Password set on 2026-03-10")
        expect(tab.get_by_role("link", name="Reset password…")).to_be_visible()
        expect(tab.get_by_role("button", name="Sign out everywhere…")).to_be_visible()
        assert_sound(tab, live_server, width, foreign, blocked)
        if viewer == "superuser" and width == 1280:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            tab.mouse.move(0, 0)
            tab.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()


def test_the_help_desk_signs_a_person_out_everywhere_after_confirming(
        ada, helpdesk, admin_user, page, live_server):
    from playwright.sync_api import expect

    sign_in_as(page, helpdesk.email, PERSON_PASSWORD, "/login/?next=/admin/")
    expect(page).to_have_title("Administration | Keystead")
    page.goto(f"/admin/directory/user/{ada.pk}/change/")
    page.get_by_role("button", name="Sign out everywhere…").click()
    expect(page.locator("#content")).to_contain_text(
        "Are you sure you want to sign ada@example.com out everywhere?")
    assert SignedInSession.objects.filter(user=ada).exists()  # asking changed nothing
    page.get_by_role("button", name="Yes, sign out everywhere").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "ada@example.com is signed out everywhere: 1 session ended")
    assert not SignedInSession.objects.filter(user=ada).exists()
    expect(page.locator("#person-sessions")).to_contain_text("Not signed in anywhere right now.")
    expect(page.locator("#person-applications")).to_contain_text(
        "No application holds a live token for this person.")

    # An administrator's page offers the help desk no buttons, and says why.
    page.goto(f"/admin/directory/user/{admin_user.pk}/change/")
    expect(page.locator("#person-actions")).to_contain_text(
        "only a superuser may act on such an account")
    expect(page.locator("#person-actions button")).to_have_count(0)


def test_reset_password_in_the_browser_keeps_must_change_ticked(ada, sign_in, page):
    from playwright.sync_api import expect

    sign_in(f"/admin/directory/user/{ada.pk}/change/")
    page.get_by_role("link", name="Reset password…").click()
    assert not accessibility_problems(page, axe_source())
    must_change = page.get_by_label("Must change at next sign-in")
    expect(must_change).to_be_checked()
    page.get_by_label("New password", exact=True).fill("Quartz-Lantern-Meadow-58")
    page.get_by_label("New password (again)", exact=True).fill("Quartz-Lantern-Meadow-58")
    page.get_by_role("button", name="Reset password").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        "Password changed. They must choose a new one at their next sign-in.")
    ada.refresh_from_db()
    assert ada.must_change_password and ada.check_password("Quartz-Lantern-Meadow-58")
