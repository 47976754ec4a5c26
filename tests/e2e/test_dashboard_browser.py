"""The console's front page in Chromium: a superuser and the help desk, on a laptop and a phone.

Each page must answer, ask nothing of any host but Keystead's, fit the screen,
speak no stock Django words and pass axe-core without a serious or critical
violation. The laptop view of a seeded installation is the screenshot in
``docs/images/keystead-dashboard.png``; the clock is set to a fixed moment so
the picture (and the file) stay the same from run to run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client

from keystead.directory.models import Event, User
from keystead.login.models import Passkey, TotpDevice

from .conftest import PERSON_PASSWORD, SCREENSHOT_DIR, sign_in_as
from .page_checks import ForeignRequests, accessibility_problems, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "keystead-dashboard.png"
MOMENT = datetime(2026, 3, 10, 16, 40, tzinfo=UTC)
# Failed sign-ins in each of the last 24 hours, oldest first: a quiet night, a busy morning.
PATTERN = [0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 3, 5, 2, 1, 0, 1, 2, 7, 3, 1, 2]
STOCK = ("Site administration", "Recent actions", "My actions", "Welcome,", "View site",
         "Log out", "Django administration")
SERIOUS = ("serious", "critical")


@pytest.fixture
def installation(addressed_installation):
    """A small company at a fixed moment: 24 people, sign-ins, failures and two apps."""
    settings = addressed_installation
    settings.EMAIL_CONFIGURED = False  # one warning, as on a fresh installation
    settings.PASSWORD_FILTER_FILE = None
    with time_machine.travel(MOMENT, tick=True):
        people = [User.objects.create_user(f"person{n:02}@example.com", f"Person{n}", "Example")
                  for n in range(20)]
        for person in people[:13]:
            TotpDevice.objects.create(user=person, secret_encrypted="x", confirmed_at=MOMENT)
        for n, person in enumerate(people[13:16]):
            Passkey.objects.create(user=person, name="Key", credential_id=f"c{n}",
                                   public_key=b"k")
        User.objects.filter(pk__in=[p.pk for p in people[16:18]]).update(
            locked_at=MOMENT - timedelta(minutes=20))
        User.objects.filter(pk=people[19].pk).update(is_active=False)
        for person in people[:9]:
            Client().force_login(person)
        hour = MOMENT.replace(minute=0)
        Event.objects.bulk_create([
            Event(action="login", outcome="failure", created_at=hour - timedelta(hours=23 - i,
                                                                                minutes=-n * 3),
                  actor_label="anonymous", client_ip="192.0.2.7")
            for i, count in enumerate(PATTERN) for n in range(count)])
        from oauth2_provider.models import get_application_model

        application = get_application_model()
        for name in ("Wiki", "Mail", "Payroll"):
            application.objects.create(
                name=name, client_type=application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
                redirect_uris=f"https://{name.lower()}.example.com/cb",
                algorithm=application.RS256_ALGORITHM)
        yield


@pytest.fixture
def helpdesk(transactional_db) -> User:
    user = User.objects.create_user("desk@example.com", "Help", "Desk",
                                    password=PERSON_PASSWORD, is_staff=True)
    user.groups.set(AuthGroup.objects.filter(name="Helpdesk"))
    return user


def new_page(browser, live_server, width: int):
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    return context, context.new_page()


def assert_sound(page, requested: ForeignRequests, width: int) -> None:
    """Only Keystead was asked, the page fits, no stock words, no serious axe violation."""
    assert not requested.seen, requested.seen
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    text = page.content()
    for phrase in STOCK:
        assert phrase not in text, phrase
    serious = accessibility_problems(page, axe_source())
    assert not serious, serious


def test_the_superuser_sees_the_dashboard_on_a_laptop(installation, page, sign_in, live_server):
    from playwright.sync_api import expect

    requested = ForeignRequests(page, live_server.url)
    sign_in("/admin/")
    response = page.goto("/admin/")
    assert response.status == 200
    expect(page.locator("#figure-people dd.ks-figure-value")).to_have_text("20")
    expect(page.locator("#figure-locked dd.ks-figure-value")).to_have_text("2")
    expect(page.locator("#figure-sessions dd.ks-figure-value")).to_have_text("10")
    expect(page.locator("#figure-failures dd.ks-figure-value")).to_have_text(str(sum(PATTERN)))
    expect(page.locator("#figure-second-factor dd.ks-figure-value")).to_have_text("80%")
    expect(page.locator("#figure-applications dd.ks-figure-value")).to_have_text("3")
    expect(page.locator("svg.ks-chart rect.ks-bar")).to_have_count(
        sum(1 for n in PATTERN if n))
    expect(page.get_by_role("img", name="Failed sign-ins in each of the last 24 hours")
           ).to_be_visible()
    expect(page.locator(".ks-warnings")).to_contain_text("no mail server")
    assert_sound(page, requested, 1280)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_text("Every hour as a table").click()
    expect(page.locator(".ks-hours tbody tr")).to_have_count(24)
    page.locator("#figure-locked a").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)


def test_the_superuser_sees_it_on_a_phone(installation, browser, live_server, admin_user):
    context, tab = new_page(browser, live_server, 390)
    try:
        requested = ForeignRequests(tab, live_server.url)
        sign_in_as(tab, admin_user.email, "correct horse battery staple", "/login/?next=/admin/")
        response = tab.goto("/admin/")
        assert response.status == 200
        assert tab.locator("#figure-failures .ks-figure-value").inner_text() == str(sum(PATTERN))
        assert_sound(tab, requested, 390)
        tab.screenshot(path=str(SCREENSHOT_DIR / "keystead-dashboard-phone.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_help_desk_sees_numbers_but_not_settings(installation, admin_user, helpdesk,
                                                     browser, live_server, width):
    context, tab = new_page(browser, live_server, width)
    try:
        requested = ForeignRequests(tab, live_server.url)
        sign_in_as(tab, helpdesk.email, PERSON_PASSWORD, "/login/?next=/admin/")
        response = tab.goto("/admin/")
        assert response.status == 200
        assert tab.locator("#figure-locked .ks-figure-value").inner_text() == "2"
        assert tab.locator(".ks-warnings").count() == 0  # the mail warning is the superuser's
        assert "Nothing to warn about." in tab.content()
        assert "shown to superusers" in tab.content()
        assert_sound(tab, requested, width)
    finally:
        context.close()
