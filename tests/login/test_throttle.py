"""One address failing across many accounts is slowed down, without locking anyone."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.directory.models import Event, User
from keystead.policy.models import LogonPolicy
from oidc.helpers import Application, basic, make_app

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]
PASSWORD = "Vellum-Orchid-Tapestry-42"
ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture(autouse=True)
def three_failures(settings):
    settings.THROTTLE_FAILURES = 3
    settings.THROTTLE_WINDOW_SECONDS = 600


@pytest.fixture
def people() -> list[User]:
    return [User.objects.create_user(f"p{i}@example.com", "Pat", f"Person{i}", password=PASSWORD)
            for i in range(4)]


def sign_in(email: str, password: str, address: str = ATTACKER, **headers: str):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": email,
                                                       "password": password}, **headers)


def spray(people: list[User]) -> None:
    """One wrong password on each of three accounts: the address reaches the limit."""
    for person in people[:3]:
        assert sign_in(person.email, "Summer-2026-Summer!").status_code == 200


def test_an_address_that_failed_across_accounts_gets_429_even_with_a_right_password(people):
    spray(people)
    refused = sign_in(people[3].email, PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins from your network" in refused.content.decode()
    assert "sessionid" not in refused.cookies
    assert Event.objects.filter(action="login.throttled", client_ip=ATTACKER).count() == 1
    # Nobody is locked, nothing more was counted, and other addresses sign in as usual.
    assert all(not p.is_locked() for p in User.objects.all())
    assert User.objects.get(pk=people[3].pk).failed_logins == 0
    assert sign_in(people[3].email, PASSWORD, address=OFFICE).status_code == 302


def test_the_address_behind_a_trusted_proxy_is_the_one_throttled(people, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for person in people[:3]:
        sign_in(person.email, "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER)
    assert sign_in(people[3].email, PASSWORD, address="10.0.0.1",
                   HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    assert sign_in(people[3].email, PASSWORD, address="10.0.0.1",
                   HTTP_X_FORWARDED_FOR=OFFICE).status_code == 302


def test_the_reset_form_and_second_factor_pages_are_throttled_too(people):
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="password+2fa")
    browser = Client(REMOTE_ADDR=ATTACKER)
    assert browser.post("/login/", {"username": people[3].email,
                                    "password": PASSWORD})["Location"] == "/login/verify/"
    spray(people)
    assert browser.post("/login/verify/email/", {"code": "123456"}).status_code == 429
    assert Client(REMOTE_ADDR=ATTACKER).post("/reset", {"email": "p0@example.com"}
                                             ).status_code == 429


def test_zero_turns_it_off(people, settings):
    settings.THROTTLE_FAILURES = 0
    spray(people)
    assert sign_in(people[3].email, PASSWORD).status_code == 302


def test_the_password_grant_answers_429_too(people):
    app, secret = make_app(grant=Application.GRANT_PASSWORD, redirect="", name="Throttled")
    spray(people)
    answer = Client(REMOTE_ADDR=ATTACKER).post("/oauth/token/", {
        "grant_type": "password", "username": people[3].email, "password": PASSWORD,
        "scope": "openid"}, **basic(app, secret))
    assert answer.status_code == 429
    assert answer.json()["error"] == "temporarily_unavailable"
    assert int(answer["Retry-After"]) > 0
    assert Event.objects.filter(action="login.throttled", detail__door="oidc").exists()
