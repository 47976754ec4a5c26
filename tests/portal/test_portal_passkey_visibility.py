"""The passkey button and enrolment appear only where passkeys can work (a host name)."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.login.models import Passkey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "https://192.0.2.10",
                                      "http://[::1]:8000"])
def test_an_ip_base_url_hides_passkeys_without_an_operator_message(settings, ada, browser_of,
                                                                   base_url):
    settings.BASE_URL = base_url
    sign_in = Client().get("/login/").content.decode()
    assert "Use a passkey" not in sign_in
    assert "passkeys.js" not in sign_in
    assert "KEYSTEAD_BASE_URL" not in sign_in
    client = browser_of()
    assert 'href="/account/passkeys/"' not in client.get("/").content.decode()
    manage = client.get("/account/passkeys/").content.decode()
    assert "Add a passkey" not in manage and "passkeys.js" not in manage
    assert 'id="passkeys-unavailable"' in manage
    assert "KEYSTEAD_BASE_URL" not in manage


@pytest.mark.parametrize("base_url", ["http://localhost:8000", "https://id.example.com"])
def test_a_host_name_shows_passkeys(settings, ada, browser_of, base_url):
    settings.BASE_URL = base_url
    sign_in = Client().get("/login/").content.decode()
    assert "Use a passkey" in sign_in and "passkeys.js" in sign_in
    client = browser_of()
    assert 'href="/account/passkeys/"' in client.get("/").content.decode()
    manage = client.get("/account/passkeys/").content.decode()
    assert "Add a passkey" in manage and 'id="passkeys-unavailable"' not in manage


def test_existing_passkeys_stay_listed_for_removal_on_an_ip_base_url(settings, ada, browser_of):
    settings.BASE_URL = "http://127.0.0.1:8000"
    client = browser_of()  # signed in before the passkey exists: no second step here
    Passkey.objects.create(user=ada, name="Old laptop", credential_id="id-1",
                           public_key=b"key", sign_count=0)
    assert 'href="/account/passkeys/"' in client.get("/").content.decode()
    assert "Old laptop" in client.get("/account/passkeys/").content.decode()
