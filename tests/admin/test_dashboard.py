"""The console's front page: exact numbers for a known installation, links, warnings per role.

The clock is frozen at 14:20 UTC in an installation whose time zone is
Asia/Kolkata (UTC+5:30): its hours start at half past in UTC, so failures
bucketed by the UTC hour instead of the local one land in the wrong bar.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from oauth2_provider.models import get_application_model

from keystead.directory.dashboard_data import ENROLLED_QUERIES, enrolled_filter
from keystead.directory.models import Event, User
from keystead.login import factors
from keystead.login.models import OutgoingMail, Passkey, TotpDevice

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 3, 14, 20, tzinfo=UTC)  # 19:50 in Kolkata
STOCK = ("Site administration", "Recent actions", "My actions", "Welcome,", "View site",
         "Log out", "Django administration")


@pytest.fixture
def clock(settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    settings.SESSION_COOKIE_AGE = 12 * 3600
    settings.SESSION_IDLE_SECONDS = 3600
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sound(settings, tmp_path, monkeypatch):
    """Settings `keystead check` is happy with, except what a test changes."""
    monkeypatch.delenv("KEYSTEAD_SECRET_KEY", raising=False)
    settings.DATA_DIR = tmp_path
    key = tmp_path / "secret_key"
    key.write_text("k" * 60)
    key.chmod(0o600)
    settings.BASE_URL = "https://id.example.com"
    settings.DEBUG = False
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_HOST, settings.EMAIL_PORT = "mail.example.com", 587
    settings.PASSWORD_FILTER_FILE = None
    return settings


def signed_in(user: User, at: datetime, clock) -> Client:
    clock.move_to(at)
    client = Client()
    client.force_login(user)
    clock.move_to(NOW)
    return client


def failure(at: datetime, action: str = "login", outcome: str = "failure") -> Event:
    return Event.objects.create(action=action, outcome=outcome, created_at=at,
                                actor_label="anonymous", client_ip="192.0.2.7")


@pytest.fixture
def installation(clock, admin_user, make_user):
    """Six active people (two enrolled), two disabled, two locks in force, four live
    sessions of three people, six failed sign-ins in the window, two applications."""
    ada = make_user("ada@example.com", "Ada")
    TotpDevice.objects.create(user=ada, secret_encrypted="x", confirmed_at=NOW - timedelta(days=3))
    bob = make_user("bob@example.com", "Bob")
    Passkey.objects.create(user=bob, name="Key", credential_id="cred-bob", public_key=b"k")
    cy = make_user("cy@example.com", "Cy")
    TotpDevice.objects.create(user=cy, secret_encrypted="x")  # never confirmed: not enrolled
    dee = make_user("dee@example.com", "Dee", is_active=False)
    TotpDevice.objects.create(user=dee, secret_encrypted="x", confirmed_at=NOW)  # disabled
    make_user("eve@example.com", "Eve", locked_at=NOW - timedelta(minutes=5))  # until unlocked
    make_user("fay@example.com", "Fay", locked_at=NOW - timedelta(hours=2),
              locked_until=NOW - timedelta(hours=1))  # the lock has run out
    make_user("gus@example.com", "Gus", is_active=False, locked_at=NOW - timedelta(minutes=10),
              locked_until=NOW + timedelta(minutes=5))

    signed_in(ada, NOW - timedelta(minutes=10), clock)
    signed_in(ada, NOW - timedelta(minutes=50), clock)
    signed_in(bob, NOW - timedelta(minutes=30), clock)
    signed_in(bob, NOW - timedelta(hours=3), clock)  # idle for longer than an hour
    signed_in(cy, NOW - timedelta(hours=13), clock)  # expired

    failure(datetime(2025, 6, 3, 13, 40, tzinfo=UTC))  # 19:10 local: the current hour
    failure(datetime(2025, 6, 3, 13, 45, tzinfo=UTC))
    failure(datetime(2025, 6, 3, 14, 19, tzinfo=UTC))
    failure(datetime(2025, 6, 3, 13, 29, tzinfo=UTC), "login.second_factor")  # 18:59 local
    failure(datetime(2025, 6, 2, 14, 35, tzinfo=UTC))  # 20:05 yesterday: the first hour
    failure(datetime(2025, 6, 2, 14, 50, tzinfo=UTC))
    failure(datetime(2025, 6, 2, 14, 29, tzinfo=UTC))  # 19:59 yesterday: before the window
    failure(datetime(2025, 6, 3, 13, 40, tzinfo=UTC), outcome="success")
    failure(datetime(2025, 6, 3, 13, 40, tzinfo=UTC), "login.throttled", "denied")
    failure(datetime(2025, 6, 3, 13, 40, tzinfo=UTC), "user.update")

    application = get_application_model()
    for name in ("Wiki", "Mail"):
        application.objects.create(
            name=name, client_type=application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=f"https://{name.lower()}.example.com/cb",
            algorithm=application.RS256_ALGORITHM)
    return signed_in(admin_user, NOW, clock)  # the superuser's own live session


def figures(response) -> dict[str, tuple[str, str, str]]:
    return {f.key: (f.value, f.url, f.note) for f in response.context["dashboard"]["figures"]}


def test_the_numbers_of_a_known_installation(installation, django_assert_max_num_queries):
    with django_assert_max_num_queries(17):  # the health checks among them, one each
        response = installation.get("/admin/")
    assert response.status_code == 200
    shown = figures(response)
    assert shown["people"] == ("6", "/admin/directory/user/?is_active__exact=1", "2 disabled")
    assert shown["locked"][:2] == ("2", "/admin/directory/user/?locked=yes")
    assert shown["sessions"] == ("4", "", "3 people signed in")
    assert shown["failures"][0] == "6"
    assert shown["second-factor"] == (
        "33%", "", "2 of 6 active people have an authenticator app or a passkey")
    assert shown["applications"] == ("2", "/admin/oauth2_provider/application/",
                                     "OpenID Connect and OAuth clients")

    hours = [hour for hour, _ in response.context["dashboard"]["hours"]]
    assert len(hours) == 24
    assert hours[0].label == "20:00 to 21:00" and hours[-1].label == "19:00 to 20:00"
    assert [h.count for h in hours] == [2, *[0] * 21, 1, 3]
    chart = response.context["dashboard"]["chart"]
    assert chart.total == 6 and chart.top == 5 and chart.busiest.label == "19:00 to 20:00"


def test_the_page_shows_the_numbers_the_chart_and_its_text_alternative(installation):
    page = installation.get("/admin/").content.decode()
    assert '<a href="/admin/directory/user/?locked=yes">2</a>' in page
    assert '<a href="/admin/directory/user/?is_active__exact=0">2 disabled</a>' in page
    assert re.search(r'<svg class="ks-chart"[^>]*role="img"', page)
    assert page.count('<rect class="ks-bar"') == 3  # three hours had failures
    assert "6 failed sign-ins in all; the most, 3, from 19:00 to 20:00." in page
    assert "<title>18:00 to 19:00: 1</title>" in page
    assert "Failed sign-ins per hour, times in IST" in page
    assert page.count("<tr><th scope=\"row\">") == 24
    assert "style=" not in page.split('id="content-main"')[1]  # the policy forbids inline style
    assert 'href="/static/keystead/dashboard.css"' in page
    assert "<h2 id=\"ks-apps-title\">Manage</h2>" in page and 'class="app-directory module' in page
    for phrase in STOCK:
        assert phrase not in page, phrase


def test_each_linked_number_opens_the_list_it_counts(installation):
    dashboard = installation.get("/admin/").context["dashboard"]
    shown = {f.key: f for f in dashboard["figures"]}
    for key in ("people", "locked", "failures"):
        listed = installation.get(shown[key].url)
        assert listed.status_code == 200
        assert str(listed.context["cl"].result_count) == shown[key].value, key
    disabled = installation.get(shown["people"].note_url).context["cl"].result_count
    assert disabled == 2
    apps = installation.get(shown["applications"].url)
    assert apps.status_code == 200 and apps.context["cl"].result_count == 2

    hour_links = [(hour.count, url) for hour, url in dashboard["hours"] if url]
    assert [count for count, _ in hour_links] == [2, 1, 3]  # no link for empty hours
    for count, url in hour_links:
        assert installation.get(url).context["cl"].result_count == count, url


def test_enrolment_query_agrees_with_the_factor_registry(installation):
    enrolled_keys = {m.key for m in factors.all_methods() if m.enrolled}
    assert enrolled_keys <= set(ENROLLED_QUERIES), "a factor people enrol in needs its query"
    by_query = set(User.objects.filter(enrolled_filter()).values_list("email", flat=True))
    by_registry = {u.email for u in User.objects.all() if factors.enrolled_in_any(u)}
    assert by_query == by_registry == {"ada@example.com", "bob@example.com", "dee@example.com"}


def test_a_new_installation_has_no_bars_and_no_enrolment(clock, client_as):
    client, _ = client_as("Helpdesk")
    response = client.get("/admin/")
    assert response.status_code == 200
    shown = figures(response)
    assert shown["people"] == ("1", "/admin/directory/user/?is_active__exact=1", "none disabled")
    assert shown["second-factor"][0] == "0%" and shown["failures"][0] == "0"
    assert shown["sessions"][:3] == ("1", "", "1 person signed in")
    page = response.content.decode()
    assert "No failed sign-ins." in page and '<rect class="ks-bar"' not in page


def test_numbers_link_only_to_lists_the_reader_may_open(installation, client_as, make_user):
    helpdesk, _ = client_as("Helpdesk")
    response = helpdesk.get("/admin/")
    assert response.status_code == 200
    shown = figures(response)
    assert shown["locked"][1] == "/admin/directory/user/?locked=yes"
    assert shown["failures"][1].startswith("/admin/directory/event/?")
    assert shown["applications"][1] == ""  # the help desk may not open applications
    assert helpdesk.get("/admin/oauth2_provider/application/").status_code == 403

    reader = make_user("reader@example.com", staff=True)  # may read the audit log, no more
    reader.user_permissions.add(Permission.objects.get(codename="view_event"))
    client = Client()
    client.force_login(reader)
    response = client.get("/admin/")
    shown = figures(response)
    assert shown["people"][:2] == ("8", "") and shown["locked"][:2] == ("2", "")
    assert shown["failures"][1].startswith("/admin/directory/event/?")
    assert "/admin/directory/user/" not in response.content.decode()


@pytest.fixture
def failing_mail(clock):
    OutgoingMail.objects.create(recipient="ada@example.com", subject="Reset", body_encrypted="x",
                                status=OutgoingMail.Status.FAILED, attempts=5,
                                last_attempt_at=NOW - timedelta(hours=1),
                                last_error="Connection refused")


def warning_topics(response) -> list[str]:
    return [f.topic for f in response.context["dashboard"]["warnings"]]


def test_superusers_see_the_settings_warnings(sound, failing_mail, root_client):
    sound.BASE_URL = "http://id.example.com"
    sound.EMAIL_CONFIGURED = False
    response = root_client.get("/admin/")
    assert warning_topics(response) == ["mail outbox", "base URL", "mail"]
    page = response.content.decode()
    assert "http://id.example.com is plain http on a network address" in page
    assert "no mail server: set KEYSTEAD_EMAIL_URL" in page
    assert "1 mail(s) given up on in the last 7 days" in page
    assert "shown to superusers" not in page


def test_the_help_desk_sees_operations_but_not_settings(sound, failing_mail, admin_user,
                                                        client_as):
    sound.BASE_URL = "http://id.example.com"
    sound.EMAIL_CONFIGURED = False
    helpdesk, _ = client_as("Helpdesk")
    response = helpdesk.get("/admin/")
    assert response.status_code == 200
    assert warning_topics(response) == ["mail outbox"]
    page = response.content.decode()
    assert "id.example.com" not in page and "no mail server" not in page
    assert "Warnings about the installation's settings are shown to superusers." in page
    for phrase in STOCK:
        assert phrase not in page, phrase


def test_a_sound_installation_has_nothing_to_warn_about(sound, root_client):
    response = root_client.get("/admin/")
    assert warning_topics(response) == []
    assert "Nothing to warn about." in response.content.decode()


def test_no_active_administrator_is_a_problem_everyone_sees(sound, client_as):
    helpdesk, _ = client_as("Helpdesk")
    page = helpdesk.get("/admin/").content.decode()
    assert "Problem" in page and "no active administrator" in page
