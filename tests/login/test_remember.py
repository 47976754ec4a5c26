"""Remembered browsers: grant, skip, fixed period, portal list and revoke, password change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login import remembered
from keystead.login.models import RememberedBrowser
from keystead.policy import changes
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret

pytestmark = pytest.mark.django_db
PASSWORD = "Vellum-Orchid-Tapestry-42"


def set_days(days: int) -> None:
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="password+2fa", remember_days=days)


@pytest.fixture
def ada():
    set_days(30)
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


@pytest.fixture
def last_code(deliver):
    """The code in the newest mail holding one (a lock notice may follow it), once the
    outbox delivered it."""
    def newest() -> str:
        codes = (re.search(r"^\s+(\d{4,10})\s*$", m.body, re.M) for m in reversed(deliver()))
        return next(found for found in codes if found).group(1)

    return newest


@pytest.fixture
def sign_in(last_code):
    def go(client: Client, *, remember: bool = False, email: str = "ada@example.com") -> str:
        """Password, then (if asked) the emailed code; returns where the browser ended up."""
        response = client.post("/login/", {"username": email, "password": PASSWORD})
        if response["Location"] != "/login/verify/":
            return response["Location"]
        client.get("/login/verify/email/")
        data = {"code": last_code(), **({"remember": "on"} if remember else {})}
        done = client.post("/login/verify/email/", data)
        assert done.status_code == 302
        return "code"

    return go


def test_period_end_is_fixed_at_grant():
    granted = timezone.now()
    assert remembered.period_end(granted, 30) == granted + timedelta(days=30)


def test_checkbox_shown_only_when_remembering_is_allowed(ada):
    client = Client()
    client.post("/login/", {"username": ada.email, "password": PASSWORD})
    page = client.get("/login/verify/email/").content.decode()
    assert "Remember this browser for 30 days" in page
    set_days(0)
    assert "Remember this browser" not in client.get("/login/verify/email/").content.decode()


def test_remembered_browser_skips_the_code(ada, sign_in):
    client = Client()
    assert sign_in(client, remember=True) == "code"
    cookie = client.cookies[remembered.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    row = RememberedBrowser.objects.get(user=ada)
    assert row.days == 30 and row.token_hash == remembered.hash_token(cookie.value)
    assert cookie.value not in repr(list(Event.objects.values()))
    client.post("/logout/")
    assert sign_in(client) == "/"
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert Event.objects.filter(action="login.remembered_browser.grant").count() == 1
    assert Event.objects.filter(action="login.remembered_browser.use").count() == 1


def test_without_the_box_nothing_is_remembered(ada, sign_in):
    client = Client()
    sign_in(client)
    assert not RememberedBrowser.objects.exists()
    client.post("/logout/")
    assert sign_in(client) == "code"


def test_remembered_for_one_person_only(ada, sign_in):
    User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    client = Client()
    sign_in(client, remember=True)
    client.post("/logout/")
    assert sign_in(client, email="bob@example.com") == "code"


def test_expires_after_its_period(ada, sign_in):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, remember=True)
        clock.shift(timedelta(days=29, hours=23))
        client.post("/logout/")
        assert sign_in(client) == "/"
        clock.shift(timedelta(hours=2))
        client.post("/logout/")
        assert sign_in(client) == "code"


@pytest.mark.parametrize(("first", "then", "after_days", "still_remembered"), [
    (30, 5, 6, True),     # shortening N does not shorten a granted period
    (30, 5, 31, False),   # ...which still ends on its own day
    (5, 30, 6, False),    # lengthening N does not lengthen it either
])
def test_changing_n_affects_only_later_grants(ada, first, then, after_days, still_remembered,
                                              sign_in):
    set_days(first)
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sign_in(client, remember=True)
        changes.update_installation_policy({"remember_days": then}, actor=OPERATOR, door="test")
        clock.shift(timedelta(days=after_days))
        client.post("/logout/")
        assert (sign_in(client) == "/") is still_remembered
        if not still_remembered:
            # The next grant uses the new period.
            client.post("/logout/")
            client.cookies.pop(remembered.COOKIE, None)
            sign_in(client, remember=True)
            assert RememberedBrowser.objects.latest("created_at").days == then


def test_portal_lists_and_revokes_one_by_one(ada, sign_in):
    phone, laptop = Client(HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/120 Mobile"), \
        Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    sign_in(phone, remember=True)
    sign_in(laptop, remember=True)
    page = laptop.get("/account/browsers").content.decode()
    assert "Chrome on Android" in page and "Firefox on Linux" in page
    assert "(this browser)" in page
    phone_row = RememberedBrowser.objects.get(user_agent="Chrome on Android")
    response = laptop.post(f"/account/browsers/{phone_row.pk}/revoke")
    assert response.status_code == 302
    phone_row.refresh_from_db()
    assert phone_row.revoked_at is not None
    after = laptop.get("/account/browsers", follow=True).content.decode()
    assert "Chrome on Android will be asked for a second factor" in after
    assert "Chrome on Android" not in laptop.get("/account/browsers").content.decode()
    phone.post("/logout/")
    assert sign_in(phone) == "code"
    laptop.post("/logout/")
    assert sign_in(laptop) == "/"
    assert Event.objects.filter(action="login.remembered_browser.revoke").count() == 1


def test_cannot_revoke_someone_elses(ada, sign_in):
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    mine = Client()
    sign_in(mine, remember=True)
    theirs = Client()
    theirs.force_login(bob)
    row = RememberedBrowser.objects.get()
    assert theirs.post(f"/account/browsers/{row.pk}/revoke").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_password_change_revokes_all(ada, sign_in):
    client = Client()
    sign_in(client, remember=True)
    services.set_password(ada, Secret("Another-Long-Passphrase-77"), actor=OPERATOR,
                          door="test")
    assert not remembered.live_for(ada).exists()
    event = Event.objects.get(action="login.remembered_browser.revoke")
    assert event.detail["reason"] == "password changed"


def test_password_reset_revokes_all(ada, sign_in, deliver):
    client = Client()
    sign_in(client, remember=True)
    stranger = Client()
    stranger.post("/reset", {"email": ada.email})
    token = deliver()[-1].body.split("/reset/", 1)[1].split()[0]
    stranger.get(f"/reset/{token}")
    new = "Another-Long-Passphrase-77"
    assert stranger.post("/reset/new-password",
                         {"new_password": new, "confirm_password": new}).status_code == 302
    assert not remembered.live_for(ada).exists()


def test_a_forged_cookie_is_ignored(ada, sign_in):
    client = Client()
    client.cookies[remembered.COOKIE] = "not-a-real-token"
    assert sign_in(client) == "code"


def test_console_resets_second_factors_after_confirmation(ada, admin_user, sign_in):
    sign_in(Client(), remember=True)
    console = Client()
    console.force_login(admin_user)
    data = {"action": "reset_second_factors", "_selected_action": [ada.pk]}
    asked = console.post("/admin/directory/user/", data)
    assert asked.status_code == 200
    assert "Are you sure you want to reset the second factors of 1 user?" in asked.content.decode()
    assert remembered.live_for(ada).exists()
    done = console.post("/admin/directory/user/", {**data, "post": "yes"}, follow=True)
    assert "Second factors reset for ada@example.com" in done.content.decode()
    assert not remembered.live_for(ada).exists()
    event = Event.objects.get(action="user.second_factors.reset")
    assert event.detail["door"] == "admin" and "email" in event.detail["removed"]
    assert event.detail["remembered_browsers"] == 1
