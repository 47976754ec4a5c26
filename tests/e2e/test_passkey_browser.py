"""Passkeys in a real browser: Debian's Chromium with its virtual authenticator.

The authenticator is Chromium's own CTAP2 implementation, driven through the
DevTools protocol (``WebAuthn.addVirtualAuthenticator``): it makes real key
pairs, keeps discoverable credentials and signs real assertions, so the
server-side checks (challenge, origin, RP id, signature, sign count) all run.
"""

from __future__ import annotations

import re

import pytest

from keystead.directory.models import Event
from keystead.login.models import Passkey
from keystead.policy.models import LogonPolicy

from .conftest import PERSON_PASSWORD, sign_in_as

pytestmark = pytest.mark.browser


@pytest.fixture
def relying_party(settings, live_server) -> str:
    """WebAuthn needs a host name for the RP id: localhost, a secure context even over http."""
    assert live_server.url.startswith("http://localhost:"), live_server.url
    settings.BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def authenticator(page, relying_party):
    """A platform authenticator with resident keys and user verification (a PIN that is set)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return cdp, added["authenticatorId"]


def credentials_in(authenticator) -> list[dict]:
    cdp, authenticator_id = authenticator
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def add_passkey(page, name: str) -> None:
    page.goto("/account/passkeys/")
    page.get_by_label("Passkey name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text(f"Passkey “{name}” added").wait_for()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/$"))


def test_register_then_sign_in_without_password_then_as_second_factor(
        page, person, authenticator):
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    add_passkey(page, "Test laptop")

    passkey = Passkey.objects.get(user=person)
    assert passkey.name == "Test laptop"
    stored = credentials_in(authenticator)
    assert len(stored) == 1 and stored[0]["isResidentCredential"]
    assert stored[0]["rpId"] == "localhost"
    assert page.get_by_text("Test laptop").first.is_visible()
    assert page.get_by_text("not used yet").is_visible()
    assert Event.objects.filter(action="passkey.enrol", outcome="success",
                                target_id=str(person.pk)).exists()

    # Signed out, the passkey alone signs in: no email, no password typed.
    sign_out(page)
    page.goto("/login/?next=/account/passkeys/")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(re.compile(r"/account/passkeys/$"))
    page.get_by_role("heading", name="Your passkeys").wait_for()
    assert "last used" in page.content()
    login = Event.objects.filter(action="login", outcome="success").latest("id")
    assert login.detail["method"] == "passkey" and login.detail["user_verified"] is True
    assert Passkey.objects.get(pk=passkey.pk).last_used_at is not None

    # The installation now requires a second factor after the password.
    LogonPolicy.objects.update_or_create(pk=1, defaults={"login_strategy": "password+2fa"})
    sign_out(page)
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.wait_for_url(re.compile(r"/login/verify/"))
    if not page.url.endswith("/login/verify/passkey/"):  # other factors are offered too
        page.get_by_role("link", name="Your passkey").click()
    page.wait_for_url(re.compile(r"/login/verify/passkey/$"))
    page.get_by_role("button", name="Use your passkey").click()
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    second = Event.objects.filter(action="login.second_factor").latest("id")
    assert second.outcome == "success" and second.detail["method"] == "passkey"

    # A passkey with user verification is multi-factor by itself: no second step.
    sign_out(page)
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name="Hello, Ada").wait_for()


def test_rename_and_remove(page, person, authenticator):
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    add_passkey(page, "Old name")
    page.get_by_text("Rename or remove").click()
    page.get_by_label("New name for “Old name”").fill("Phone")
    page.get_by_role("button", name="Rename").click()
    page.get_by_text("Passkey renamed to “Phone”.").wait_for()
    assert Passkey.objects.get(user=person).name == "Phone"

    page.get_by_text("Rename or remove").click()
    page.get_by_role("button", name="Remove “Phone”").click()
    page.get_by_text("Passkey “Phone” removed.").wait_for()
    assert not Passkey.objects.filter(user=person).exists()
    assert page.get_by_text("You have no passkeys yet.").is_visible()

    # The authenticator still holds the credential; the server no longer knows it.
    sign_out(page)
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("alert").filter(has_text="did not sign you in").wait_for()
    failure = Event.objects.filter(action="login", outcome="failure").latest("id")
    assert failure.detail["reason"] == "unknown passkey"


def test_same_authenticator_cannot_register_twice(page, person, authenticator):
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    add_passkey(page, "First")
    page.get_by_label("Passkey name").fill("Second")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("already holds a passkey for your account").wait_for()
    assert Passkey.objects.filter(user=person).count() == 1


def test_cloned_credential_is_refused(page, person, authenticator):
    """A copy of the key whose counter lags behind the server's is refused and audited."""
    cdp, authenticator_id = authenticator
    sign_in_as(page, person.email, PERSON_PASSWORD)
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    add_passkey(page, "Laptop")
    sign_out(page)
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name="Hello, Ada").wait_for()
    counted = Passkey.objects.get(user=person).sign_count
    assert counted > 0, "Chromium's virtual authenticator keeps a signature counter"

    # Replace the credential with a copy of the same key whose counter starts over.
    original = credentials_in(authenticator)[0]
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator_id})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator_id, "credential": {
        **{k: original[k] for k in ("credentialId", "rpId", "privateKey", "userHandle")},
        "isResidentCredential": True, "signCount": 0}})

    sign_out(page)
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("alert").filter(has_text="did not sign you in").wait_for()
    assert Event.objects.filter(action="passkey.clone_suspected", outcome="denied").exists()
    assert Passkey.objects.get(user=person).sign_count == counted
