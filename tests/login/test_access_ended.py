"""Disabling a person, or signing them out everywhere, ends their sessions and remembered
browsers at once; enabling the account again brings none of them back."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login import remembered, sessions
from keystead.policy.models import LogonPolicy

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada() -> User:
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(remember_days=30)
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def signed_in_twice(person: User) -> list[Client]:
    browsers = [Client(), Client()]
    for browser in browsers:
        assert browser.post("/login/", {"username": person.email,
                                        "password": PASSWORD}).status_code == 302
        assert browser.get("/").status_code == 200
    request = RequestFactory().get("/", HTTP_USER_AGENT="Firefox")
    request.user = person
    assert remembered.grant(request, HttpResponse(), person) is not None
    return browsers


def still_in(browsers: list[Client]) -> list[bool]:
    return [browser.get("/").status_code == 200 for browser in browsers]


def test_disabling_ends_sessions_and_remembered_browsers_for_good(ada):
    browsers = signed_in_twice(ada)
    assert services.set_active(ada, False, actor=OPERATOR, door="test")
    assert still_in(browsers) == [False, False]
    assert not remembered.live_for(ada).exists()
    assert services.set_active(ada, True, actor=OPERATOR, door="test")
    assert still_in(browsers) == [False, False]
    assert Event.objects.filter(action="user.deactivate").exists()


def test_signing_out_everywhere_ends_every_session_but_keeps_the_account(ada):
    browsers = signed_in_twice(ada)
    assert sessions.sign_out_everywhere(ada, actor=OPERATOR, door="test") == 2
    assert still_in(browsers) == [False, False]
    assert not remembered.live_for(ada).exists()
    assert Client().post("/login/", {"username": ada.email,
                                     "password": PASSWORD}).status_code == 302
    event = Event.objects.get(action="user.sign_out_everywhere")
    assert event.detail == {"door": "test", "sessions": 2}
