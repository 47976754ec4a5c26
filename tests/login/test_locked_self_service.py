"""While an account is locked, the portal checks no password: a guess would not be counted."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login import totp
from keystead.login.lockout import LOCKED_NOW

from .test_totp import T0, oathtool

pytestmark = pytest.mark.django_db
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def signed_in_then_locked(person: User) -> Client:
    client = Client()
    client.force_login(person)
    User.objects.filter(pk=person.pk).update(locked_at=timezone.now(), locked_until=None,
                                             failed_logins=10)
    return client


def test_the_password_change_refuses_even_the_right_password_while_locked(ada):
    client = signed_in_then_locked(ada)
    response = client.post("/password/change/", {
        "current_password": PASSWORD, "new_password": "Quartz-Heron-Lantern-97",
        "confirm_password": "Quartz-Heron-Lantern-97"})
    assert response.status_code == 200
    assert LOCKED_NOW.replace("'", "&#x27;") in response.content.decode()
    ada.refresh_from_db()
    assert ada.check_password(PASSWORD)
    assert Event.objects.filter(action="user.password.change", outcome="denied").exists()


def test_removing_an_authenticator_app_is_refused_while_locked(ada):
    device = totp.start_enrolment(ada, algorithm="SHA1", digits=6)
    seed = totp.seed_of(device).reveal()
    assert totp.confirm(ada, device, oathtool(seed, T0), now=T0)
    client = signed_in_then_locked(ada)
    response = client.post(f"/account/totp/{device.pk}/remove", {"credential": PASSWORD})
    assert response.status_code == 200
    assert LOCKED_NOW.replace("'", "&#x27;") in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed_at is not None
    assert Event.objects.filter(action="totp.remove", outcome="denied").exists()
