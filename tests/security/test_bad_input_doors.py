"""Bad input at the doors the REST API's fuzzing does not reach (OAuth, SAML, the
portal, the agent's, SCIM): each answer is a 4xx or the door's own refusal, never a
500, and nothing is written. The test client raises whatever a view raises, so an
unhandled error fails the test with its traceback."""

from __future__ import annotations

import base64
import json
import zlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from keystead.devices.models import Device
from keystead.directory.models import Group, User
from keystead.login.models import Passkey
from oidc.helpers import REDIRECT, authorize_params, make_app

pytestmark = pytest.mark.django_db

PASSWORD = "Quarry-Lantern-Mosaic-73"


@pytest.fixture
def grace() -> User:
    return User.objects.create_user("grace@example.com", "Grace", "Hopper", password=PASSWORD)


@pytest.fixture
def signed_in(grace) -> Client:
    client = Client()
    client.force_login(grace)
    return client


def _error_at_the_redirect(response) -> dict:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


@pytest.mark.parametrize("max_age", ["99999999999999999999", "86400000000000"])
def test_a_max_age_beyond_any_clock_is_simply_older_than_no_session(signed_in, max_age):
    app, _ = make_app()
    answer = signed_in.get("/oauth/authorize/?" + urlencode(authorize_params(app,
                                                                           max_age=max_age)))
    assert answer.status_code in (200, 302)
    assert "error" not in parse_qs(urlsplit(answer.get("Location", "")).query)


@pytest.mark.parametrize(("name", "value"), [("nonce", "n" * 256),
                                             ("code_challenge", "c" * 129)])
def test_a_value_longer_than_its_column_is_invalid_request_at_the_redirect(
        signed_in, name, value):
    app, _ = make_app()
    answer = signed_in.get("/oauth/authorize/?" + urlencode(authorize_params(app,
                                                                           **{name: value})))
    error = _error_at_the_redirect(answer)
    assert error["error"] == ["invalid_request"] and error["state"] == ["st"]
    assert name in error["error_description"][0]


def test_a_consent_answer_naming_no_application_is_a_400(signed_in):
    answer = signed_in.post("/oauth/authorize/", {
        "client_id": "nope", "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid", "allow": "Authorize"})
    assert answer.status_code == 400


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_logout_naming_no_application_is_the_unknown_client_error(method):
    answer = getattr(Client(), method)("/oauth/logout/", {"client_id": "nope"})
    assert answer.status_code == 400
    assert b"client is unknown" in answer.content


def _deflated(xml: bytes) -> str:
    return base64.b64encode(zlib.compress(xml)[2:-4]).decode()


@pytest.mark.parametrize(("path", "data"), [
    ("/saml/sso/post", {"SAMLRequest": base64.b64encode(b"hello").decode()}),
    ("/saml/sso/post", {"SAMLRequest": base64.b64encode(
        b'<!DOCTYPE x [<!ENTITY a "b">]><x/>').decode()}),
    ("/saml/slo/post", {}),
    ("/saml/slo/post", {"SAMLRequest": base64.b64encode(b"hello").decode()}),
])
def test_a_saml_message_that_is_not_well_formed_xml_is_refused(path, data):
    assert Client().post(path, data).status_code == 400


@pytest.mark.parametrize("path", ["/saml/sso/redirect", "/saml/slo/redirect"])
def test_a_redirect_binding_message_that_is_not_xml_is_refused(path):
    assert Client().get(path, {"SAMLRequest": _deflated(b"hello")}).status_code == 400


def test_a_next_that_is_a_bare_word_goes_home_not_to_a_view_of_that_name(signed_in):
    assert signed_in.get("/login/?next=foo")["Location"] == "/"
    assert signed_in.get("/login/?next=/account/totp")["Location"] == "/account/totp"


def test_a_passkey_name_with_a_nul_is_refused_and_kept(signed_in, grace):
    passkey = Passkey.objects.create(user=grace, name="Laptop", credential_id="AAAA",
                                     public_key=b"x", sign_count=0, transports=[])
    answer = signed_in.post(f"/account/passkeys/{passkey.pk}/rename", {"name": "a\x00b"})
    assert answer.status_code == 400 and b"NUL character" in answer.content
    assert Passkey.objects.get(pk=passkey.pk).name == "Laptop"


@pytest.mark.parametrize(("body", "field"), [
    ('{"token": "x", "name": "pc\\u0000", "public_key": "x"}', "name"),
    ('{"token": "\\ud800", "name": "pc", "public_key": "x"}', "token"),
    ('{"token": "x", "name": "pc", "public_key": "x", "extra": {"\\u0000": 1}}',
     "extra.\x00"),
])
def test_an_enrolment_with_text_no_column_can_store_is_a_400_naming_it(body, field):
    answer = Client().post("/devices/enroll", body.encode(), content_type="application/json")
    assert answer.status_code == 400
    assert field in answer.json()["problems"]
    assert not Device.objects.exists()


def test_json_nested_past_the_parsers_depth_is_not_json():
    body = b"[" * 100_000 + b"]" * 100_000
    answer = Client().post("/devices/enroll", body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error_description"] == "Send a JSON object as the body."


def test_a_group_external_id_longer_than_stored_is_a_scim_400(token_for):
    group = Group.objects.create(name="Engineering")
    scim = Client(headers={"Authorization": f"Bearer {token_for('scim')}"})
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "displayName", "value": "Eng"},
                            {"op": "replace", "path": "externalId", "value": "e" * 256}]}
    answer = scim.patch(f"/scim/v2/Groups/{group.pk}", json.dumps(patch),
                        content_type="application/scim+json")
    assert answer.status_code == 400
    assert "at most 255" in answer.json()["detail"]
    assert Group.objects.get(pk=group.pk).name == "Engineering"  # nothing written
    created = scim.post("/scim/v2/Groups", json.dumps({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
        "externalId": "x" * 256}), content_type="application/scim+json")
    assert created.status_code == 400 and not Group.objects.filter(name="Ops").exists()
