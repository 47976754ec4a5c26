"""Where a person is signed in: the list, signing one session out, all others, and
forgetting a remembered browser from the same page."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Event, User
from keystead.login import sessions
from keystead.login.idle import LAST_SEEN
from keystead.login.models import RememberedBrowser, SignedInSession

from .conftest import PASSWORD, PHONE

pytestmark = pytest.mark.django_db


def handles_on(html: str) -> list[str]:
    return re.findall(r'action="/account/sessions/([0-9a-f]+)/end"', html)


def test_the_list_names_each_browser_and_never_shows_a_session_key(ada, browser_of):
    laptop, phone = browser_of(), browser_of(PHONE)
    page = laptop.get("/account/sessions").content.decode()
    assert "Firefox on Linux" in page and "Chrome on Android" in page
    assert page.count('class="tag">this browser') == 1
    for key in SignedInSession.objects.values_list("session_id", flat=True):
        assert key not in page
    assert len(handles_on(page)) == 1  # the other one; this one signs out as usual
    assert phone.get("/").status_code == 200


def test_signing_out_another_session_ends_it_and_is_audited(ada, browser_of):
    laptop, phone = browser_of(), browser_of(PHONE)
    phone_key = phone.cookies["sessionid"].value
    [handle] = handles_on(laptop.get("/account/sessions").content.decode())
    answer = laptop.post(f"/account/sessions/{handle}/end", follow=True)
    assert "That session is signed out" in answer.content.decode()
    assert not Session.objects.filter(session_key=phone_key).exists()
    assert not SignedInSession.objects.filter(session_id=phone_key).exists()
    assert phone.get("/")["Location"].startswith("/login/")  # the phone must sign in again
    assert laptop.get("/").status_code == 200
    event = Event.objects.get(action="user.session.end")
    assert (event.actor_id, event.target_id) == (ada.pk, str(ada.pk))
    assert event.detail["browser"] == "Chrome on Android" and event.detail["door"] == "portal"
    assert phone_key not in str(event.detail)
    again = laptop.post(f"/account/sessions/{handle}/end", follow=True)
    assert "already ended" in again.content.decode()
    assert Event.objects.filter(action="user.session.end").count() == 1


def test_nobody_ends_another_persons_session(ada, browser_of):
    User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    bob = browser_of(PHONE, email="bob@example.com")
    bob_key = bob.cookies["sessionid"].value
    laptop = browser_of()
    laptop.post(f"/account/sessions/{sessions.session_handle(bob_key)}/end")
    assert Session.objects.filter(session_key=bob_key).exists()
    assert bob.get("/").status_code == 200
    assert not Event.objects.filter(action="user.session.end").exists()


def test_the_service_refuses_someone_else_acting_without_permission(ada, browser_of):
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    browser_of()
    with pytest.raises(NotAllowed):
        sessions.end_other_sessions(ada, None, actor=Actor.themselves(bob))
    with pytest.raises(NotAllowed):
        sessions.end_session(ada, "x", actor=Actor.person(bob))
    assert SignedInSession.objects.filter(user=ada).count() == 1


def test_sign_out_everywhere_else_keeps_this_browser(ada, browser_of):
    laptop, phone, tablet = browser_of(), browser_of(PHONE), browser_of(PHONE)
    answer = laptop.post("/account/sessions/end-others", follow=True)
    assert "Signed out 2 other sessions" in answer.content.decode()
    assert laptop.get("/").status_code == 200
    for other in (phone, tablet):
        assert other.get("/")["Location"].startswith("/login/")
    assert SignedInSession.objects.filter(user=ada).count() == 1
    event = Event.objects.get(action="user.session.end_others")
    assert event.actor_id == ada.pk and event.detail["sessions"] == 2


def test_ended_and_idle_sessions_are_not_listed(ada, browser_of, settings):
    laptop, phone, idle = browser_of(), browser_of(PHONE), browser_of(PHONE)
    Session.objects.filter(session_key=phone.cookies["sessionid"].value).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    store = SessionStore(idle.cookies["sessionid"].value)
    store[LAST_SEEN] = int(time.time()) - settings.SESSION_IDLE_SECONDS - 5
    store.save()
    assert "Chrome on Android" not in laptop.get("/account/sessions").content.decode()
    assert len(sessions.sessions_of(ada)) == 1


def test_a_remembered_browser_is_forgotten_from_the_sessions_page(ada, browser_of):
    laptop = browser_of()
    row = RememberedBrowser.objects.create(user=ada, token_hash="a" * 64, days=30,
                                           expires_at=timezone.now() + timedelta(days=30),
                                           user_agent="Safari on iPhone")
    page = laptop.get("/account/sessions").content.decode()
    assert "Safari on iPhone" in page
    answer = laptop.post(f"/account/browsers/{row.pk}/revoke", {"back": "sessions"})
    assert answer["Location"] == "/account/sessions"
    row.refresh_from_db()
    assert row.revoked_at is not None and row.revoked_reason == "revoked by its owner"
    event = Event.objects.get(action="login.remembered_browser.revoke")
    assert event.actor_id == ada.pk and event.detail["browser"] == row.pk
    after = laptop.get("/account/sessions").content.decode()
    assert "Safari on iPhone will be asked for a second factor" in after
    assert 'id="remembered"' not in after and "No browser is remembered" in after


def test_someone_elses_remembered_browser_is_not_found(ada, browser_of):
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password=PASSWORD)
    row = RememberedBrowser.objects.create(user=bob, token_hash="b" * 64, days=30,
                                           expires_at=timezone.now() + timedelta(days=30))
    assert browser_of().post(f"/account/browsers/{row.pk}/revoke").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_the_pages_need_a_signed_in_person(ada):
    for url in ("/account/sessions", "/account/profile"):
        assert Client().get(url)["Location"].startswith("/login/")
    assert Client().post("/account/sessions/end-others")["Location"].startswith("/login/")
