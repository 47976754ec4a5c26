"""A person who set up an authenticator app or a passkey is asked for it at every password
sign-in, even while the installation's strategy is "Password"."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.directory.models import User
from keystead.login import totp
from keystead.login.models import Passkey
from keystead.policy.models import LogonPolicy, Strategy

from .test_totp import T0, oathtool

pytestmark = pytest.mark.django_db
PASSWORD = "Vellum-Orchid-Tapestry-42"


@pytest.fixture
def ada() -> User:
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy=Strategy.PASSWORD)
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def password_step() -> str:
    response = Client().post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 302
    return response["Location"]


def test_without_a_factor_the_password_is_enough(ada):
    assert password_step() == "/"


def test_an_authenticator_app_is_asked_for(ada):
    device = totp.start_enrolment(ada, algorithm="SHA1", digits=6)
    assert password_step() == "/"  # not yet confirmed: not set up
    assert totp.confirm(ada, device, oathtool(totp.seed_of(device).reveal(), T0), now=T0)
    assert password_step() == "/login/verify/"


def test_a_passkey_is_asked_for(ada):
    Passkey.objects.create(user=ada, name="Laptop", credential_id="AAAA", public_key=b"k")
    assert password_step() == "/login/verify/"
