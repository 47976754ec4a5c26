"""Passkey endpoints through Django's test client, with a software authenticator.

``SoftAuthenticator`` is a small but real WebAuthn authenticator: it makes a
P-256 key pair, builds the CBOR attestation object ("none" attestation) and
signs assertions with ECDSA, so py_webauthn's verification runs unchanged. It
lets these tests send what a browser cannot be made to send (a stale counter,
a foreign origin, garbage). The browser tests use Chromium's own authenticator.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import timezone
from webauthn.helpers import bytes_to_base64url

from keystead.directory.models import Event, User
from keystead.login import factors, passkeys
from keystead.login.models import Passkey
from keystead.policy.models import LogonPolicy

ORIGIN = "http://testserver"
PASSWORD = "Vellum-Orchid-Tapestry-42"

UP, UV, AT = 0x01, 0x04, 0x40


@dataclass
class SoftAuthenticator:
    rp_id: str = "testserver"
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    user_handle: bytes = b""
    sign_count: int = 0

    def _rp_hash(self) -> bytes:
        return hashlib.sha256(self.rp_id.encode()).digest()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, origin: str = ORIGIN) -> str:
        self.user_handle = _b64d(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = (self._rp_hash() + bytes([UP | UV | AT]) + struct.pack(">I", self.sign_count)
                     + bytes(16) + struct.pack(">H", len(self.credential_id))
                     + self.credential_id + self._cose_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id), "type": "public-key",
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "attestationObject": bytes_to_base64url(attestation),
                         "transports": ["internal", "hybrid"]}})

    def get(self, options: dict, origin: str = ORIGIN, *, flags: int = UP | UV,
            count: int | None = None) -> str:
        if count is None:
            self.sign_count += 1
            count = self.sign_count
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._rp_hash() + bytes([flags]) + struct.pack(">I", count)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id), "type": "public-key",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "authenticatorData": bytes_to_base64url(auth_data),
                         "signature": bytes_to_base64url(signature),
                         "userHandle": bytes_to_base64url(self.user_handle)}})


def _b64d(value: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(value)


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.BASE_URL = ORIGIN


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


@pytest.fixture
def ada_client(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


def enrol(client: Client, name: str = "Laptop") -> SoftAuthenticator:
    key = SoftAuthenticator()
    options = client.post("/account/passkeys/options", {"name": name}).json()
    answer = client.post("/account/passkeys/add", {"credential": key.create(options)})
    assert answer.status_code == 302, answer.content.decode()
    return key


def sign_in(client: Client, key: SoftAuthenticator, next_url: str = "", **kwargs):
    options = client.post("/login/passkey/options").json()
    return client.post("/login/passkey", {"credential": key.get(options, **kwargs),
                                          "next": next_url})


def last_event(action: str) -> Event:
    return Event.objects.filter(action=action).latest("id")


# --- registration --------------------------------------------------------------------------

def test_registration_needs_a_signed_in_person(db):
    assert Client().post("/account/passkeys/options", {"name": "x"}).status_code == 302
    assert Client().get("/account/passkeys/").status_code == 302


def test_registration_options(ada_client, ada):
    first = enrol(ada_client)
    options = ada_client.post("/account/passkeys/options", {"name": "Phone"}).json()
    assert options["rp"] == {"id": "testserver", "name": "Keystead"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert [c["id"] for c in options["excludeCredentials"]] == [
        bytes_to_base64url(first.credential_id)]
    assert options["user"]["name"] == "ada@example.com"
    # The user handle is random, not the email or the database id, and stays the same.
    assert _b64d(options["user"]["id"]) == first.user_handle
    assert len(first.user_handle) == 32


def test_registration_stores_the_passkey_and_audits(ada_client, ada):
    key = enrol(ada_client, "  Work   laptop ")
    passkey = Passkey.objects.get(user=ada)
    assert passkey.name == "Work laptop"
    assert passkey.credential_id == bytes_to_base64url(key.credential_id)
    assert passkey.transports == ["internal", "hybrid"]
    assert passkey.aaguid == "00000000-0000-0000-0000-000000000000"
    assert passkey.sign_count == 0 and passkey.last_used_at is None
    event = last_event("passkey.enrol")
    assert event.outcome == "success" and event.detail["name"] == "Work laptop"
    page = ada_client.get("/account/passkeys/").content.decode()
    assert "Work laptop" in page and "not used yet" in page


@pytest.mark.parametrize(("name", "message"), [
    ("", "Give the passkey a name"),
    ("x" * 65, "The name is 65 characters long; use at most 64."),
])
def test_registration_refuses_a_bad_name(ada_client, name, message):
    answer = ada_client.post("/account/passkeys/options", {"name": name})
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_registration_bad_json_is_400_with_a_message(ada_client, ada):
    ada_client.post("/account/passkeys/options", {"name": "Laptop"})
    answer = ada_client.post("/account/passkeys/add", {"credential": "{not json"})
    assert answer.status_code == 400
    assert "not valid JSON" in answer.content.decode()
    assert not Passkey.objects.exists()
    assert last_event("passkey.enrol").outcome == "failure"


def test_registration_challenge_is_used_once(ada_client, ada):
    key = SoftAuthenticator()
    options = ada_client.post("/account/passkeys/options", {"name": "Laptop"}).json()
    credential = key.create(options)
    assert ada_client.post("/account/passkeys/add", {"credential": credential}).status_code == 302
    replay = ada_client.post("/account/passkeys/add", {"credential": credential})
    assert replay.status_code == 400
    assert "no passkey request waiting" in replay.content.decode()
    assert Passkey.objects.count() == 1


def test_registration_refuses_a_foreign_origin(ada_client, ada):
    options = ada_client.post("/account/passkeys/options", {"name": "Laptop"}).json()
    credential = SoftAuthenticator().create(options, origin="https://evil.example")
    answer = ada_client.post("/account/passkeys/add", {"credential": credential})
    assert answer.status_code == 400
    assert "could not be verified" in answer.content.decode()
    assert "origin" in last_event("passkey.enrol").detail["reason"].lower()


def test_rename_and_remove(ada_client, ada):
    enrol(ada_client)
    passkey = Passkey.objects.get(user=ada)
    assert ada_client.post(f"/account/passkeys/{passkey.pk}/rename",
                           {"name": ""}).status_code == 400
    ada_client.post(f"/account/passkeys/{passkey.pk}/rename", {"name": "Phone"})
    assert Passkey.objects.get(pk=passkey.pk).name == "Phone"
    assert last_event("passkey.rename").detail == {"passkey": passkey.pk, "from": "Laptop",
                                                   "to": "Phone"}
    ada_client.post(f"/account/passkeys/{passkey.pk}/remove")
    assert not Passkey.objects.exists()
    assert last_event("passkey.remove").detail["name"] == "Phone"


def test_nobody_touches_another_persons_passkey(ada_client, ada):
    enrol(ada_client)
    passkey = Passkey.objects.get(user=ada)
    other = Client()
    other.force_login(User.objects.create_user("bob@example.com", "Bob", "B", password=PASSWORD))
    assert other.post(f"/account/passkeys/{passkey.pk}/remove").status_code == 404
    assert other.post(f"/account/passkeys/{passkey.pk}/rename",
                      {"name": "x"}).status_code == 404
    assert Passkey.objects.filter(pk=passkey.pk, name="Laptop").exists()


# --- passwordless sign-in ------------------------------------------------------------------

def test_sign_in_options_allow_any_discoverable_passkey(db):
    options = Client().post("/login/passkey/options").json()
    assert options["rpId"] == "testserver"
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"


def test_passwordless_sign_in_honours_next(ada_client, ada):
    key = enrol(ada_client)
    client = Client()
    answer = sign_in(client, key, next_url="/account/passkeys/")
    assert answer.status_code == 302 and answer["Location"] == "/account/passkeys/"
    assert client.get("/").status_code == 200
    event = last_event("login")
    assert event.outcome == "success" and event.detail["method"] == "passkey"
    passkey = Passkey.objects.get(user=ada)
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_passwordless_sign_in_meets_a_second_factor_requirement(ada_client, ada):
    key = enrol(ada_client)
    LogonPolicy.objects.update_or_create(pk=1, defaults={"login_strategy": "password+2fa"})
    client = Client()
    assert sign_in(client, key)["Location"] == "/"
    assert client.get("/").status_code == 200


def test_passwordless_sign_in_requires_user_verification(ada_client, ada):
    key = enrol(ada_client)
    answer = sign_in(Client(), key, flags=UP)
    assert answer.status_code == 401
    assert "did not sign you in" in answer.content.decode()
    assert "verif" in last_event("login").detail["reason"].lower()


def test_assertion_is_not_replayable(ada_client, ada):
    key = enrol(ada_client)
    client = Client()
    options = client.post("/login/passkey/options").json()
    credential = key.get(options)
    assert client.post("/login/passkey", {"credential": credential}).status_code == 302
    client.post("/logout/")
    replay = client.post("/login/passkey", {"credential": credential})
    assert replay.status_code == 400
    assert "no passkey request waiting" in replay.content.decode()


def test_unknown_passkey_gets_the_generic_answer(db):
    client = Client()
    options = client.post("/login/passkey/options").json()
    answer = client.post("/login/passkey", {"credential": SoftAuthenticator().get(options)})
    assert answer.status_code == 401
    assert passkeys.GENERIC_FAILURE in answer.content.decode()
    event = last_event("login")
    assert event.outcome == "failure" and event.detail["reason"] == "unknown passkey"


@pytest.mark.parametrize("state", ["disabled", "locked"])
def test_disabled_or_locked_account_gets_the_generic_answer(ada_client, ada, state):
    key = enrol(ada_client)
    if state == "disabled":
        User.objects.filter(pk=ada.pk).update(is_active=False)
    else:
        User.objects.filter(pk=ada.pk).update(
            locked_at=timezone.now(), locked_until=timezone.now() + timezone.timedelta(hours=1))
    client = Client()
    answer = sign_in(client, key)
    assert answer.status_code == 401
    assert passkeys.GENERIC_FAILURE in answer.content.decode()
    assert last_event("login").detail["reason"] == f"account {state}"
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("raw", ["", "{not json", "[1, 2]", '{"id": "x"}'])
def test_sign_in_bad_credential_is_400_with_a_message(db, raw):
    client = Client()
    client.post("/login/passkey/options")
    answer = client.post("/login/passkey", {"credential": raw})
    assert answer.status_code == 400
    body = answer.content.decode()
    assert "passkey answer" in body


def test_sign_in_without_options_first(db):
    answer = Client().post("/login/passkey", {"credential": "{}"})
    assert answer.status_code == 400
    assert "no passkey request waiting" in answer.content.decode()


def test_a_wrong_origin_is_refused(ada_client, ada):
    key = enrol(ada_client)
    answer = sign_in(Client(), key, origin="https://evil.example")
    assert answer.status_code == 401
    assert "origin" in last_event("login").detail["reason"].lower()


def test_sign_count_that_does_not_grow_is_refused_as_a_clone(ada_client, ada):
    key = enrol(ada_client)
    assert sign_in(Client(), key).status_code == 302  # count 1
    assert sign_in(Client(), key).status_code == 302  # count 2
    answer = sign_in(Client(), key, count=2)  # a copy that was used once less
    assert answer.status_code == 401
    clone = last_event("passkey.clone_suspected")
    assert clone.outcome == "denied"
    assert clone.detail["stored_count"] == 2 and clone.detail["reported_count"] == 2
    assert "cloned" in last_event("login").detail["reason"]
    assert Passkey.objects.get(user=ada).sign_count == 2


def test_authenticators_without_a_counter_are_accepted(ada_client, ada):
    key = enrol(ada_client)
    for _ in range(2):
        assert sign_in(Client(), key, count=0).status_code == 302


# --- passkey as the second factor ----------------------------------------------------------

@pytest.fixture
def two_factor(db):
    LogonPolicy.objects.update_or_create(pk=1, defaults={"login_strategy": "password+2fa"})


def password_step(client: Client) -> None:
    answer = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert answer["Location"] == "/login/verify/", answer.content.decode()[:500]


def test_factor_registry(ada_client, ada):
    method = factors.get("passkey")
    assert (method.label, method.url_name, method.order) == (
        "Your passkey", "login_verify_passkey", 10)
    assert not method.available(ada)
    enrol(ada_client)
    enrol(ada_client, "Phone")
    assert method.available(ada)
    assert method.reset(ada) == 2
    assert not method.available(ada)


def test_second_factor_with_a_passkey(ada_client, ada, two_factor):
    key = enrol(ada_client)
    client = Client()
    password_step(client)
    assert client.get("/login/verify/passkey/").status_code == 200
    options = client.post("/login/verify/passkey/options").json()
    assert [c["id"] for c in options["allowCredentials"]] == [
        bytes_to_base64url(key.credential_id)]
    assert options["userVerification"] == "preferred"
    answer = client.post("/login/verify/passkey/", {"credential": key.get(options, flags=UP)})
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert client.get("/").status_code == 200
    event = last_event("login.second_factor")
    assert event.outcome == "success" and event.detail["method"] == "passkey"


def test_second_factor_refuses_another_persons_passkey(ada_client, ada, two_factor):
    enrol(ada_client)
    bob_client = Client()
    bob_client.force_login(User.objects.create_user("bob@example.com", "Bob", "B"))
    bobs_key = enrol(bob_client)
    client = Client()
    password_step(client)
    options = client.post("/login/verify/passkey/options").json()
    answer = client.post("/login/verify/passkey/", {"credential": bobs_key.get(options)})
    assert answer.status_code == 401
    assert "did not confirm your sign-in" in answer.content.decode()
    event = last_event("login.second_factor")
    assert event.outcome == "failure" and event.detail["reason"].startswith("unknown passkey")
    assert User.objects.get(pk=ada.pk).failed_logins == 1
    assert client.get("/").status_code == 302


def test_second_factor_needs_the_password_step_first(ada_client, ada):
    key = enrol(ada_client)
    client = Client()
    assert client.get("/login/verify/passkey/")["Location"] == "/login/"
    assert client.post("/login/verify/passkey/options").status_code == 400
    # A passwordless challenge does not serve as a second factor's.
    options = client.post("/login/passkey/options").json()
    answer = client.post("/login/verify/passkey/", {"credential": key.get(options)})
    assert answer["Location"] == "/login/"


def test_second_factor_bad_json_is_400(ada_client, ada, two_factor):
    enrol(ada_client)
    client = Client()
    password_step(client)
    client.post("/login/verify/passkey/options")
    answer = client.post("/login/verify/passkey/", {"credential": "nope"})
    assert answer.status_code == 400
    assert "not valid JSON" in answer.content.decode()
    assert User.objects.get(pk=ada.pk).failed_logins == 0


def test_a_base_url_without_a_host_name_is_explained(ada_client, settings):
    settings.BASE_URL = "http://127.0.0.1:8000"
    for client, url in ((ada_client, "/account/passkeys/options"), (Client(),
                                                                    "/login/passkey/options")):
        answer = client.post(url, {"name": "Laptop"})
        assert answer.status_code == 503
        assert "KEYSTEAD_BASE_URL is http://127.0.0.1:8000" in answer.json()["error"]


@pytest.mark.parametrize("credential_id", ["\\u0000", "\\ud800"])
def test_a_passkey_answer_with_text_no_column_can_store_is_refused(credential_id):
    with pytest.raises(passkeys.PasskeyError, match="cannot be stored"):
        passkeys.parse_credential(f'{{"id": "{credential_id}", "response": {{}}}}')
