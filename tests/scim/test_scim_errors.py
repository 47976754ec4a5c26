"""Authentication, authorisation and protocol errors: always SCIM JSON, never HTML or a 500."""

import pytest
from scim_helpers import ScimApi, assert_scim_error, user_body

from keystead.api.tokens import revoke_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Outcome

pytestmark = pytest.mark.django_db

ENDPOINTS = ["Users", "Users/1", "Groups", "Groups/1", "ServiceProviderConfig", "Schemas",
             "ResourceTypes", "ResourceTypes/User", "Users/.search", "Bulk", "Nope"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_token_is_401_with_a_challenge(client, path):
    response = ScimApi(client, None).get(path)
    assert_scim_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer kst_nope_nope", "Basic dXNlcjpwYXNz",
                                    "bearer  "])
def test_bad_token_is_401(client, db, header):
    response = client.get("/scim/v2/Users", HTTP_AUTHORIZATION=header)
    assert_scim_error(response, 401)


def test_unknown_token_is_audited(client, db):
    client.get("/scim/v2/Users", HTTP_AUTHORIZATION="Bearer kst_0000_nope")
    event = Event.objects.get(action="api.auth")
    assert event.outcome == Outcome.DENIED


def test_revoked_token_is_401(client, admin_user):
    from keystead.api.tokens import issue_token
    token, clear = issue_token(name="okta", scopes=["scim"], owner=admin_user, actor=OPERATOR)
    revoke_token(token, actor=OPERATOR)
    assert_scim_error(ScimApi(client, clear.reveal()).get("Users"), 401)


@pytest.mark.parametrize("scopes", [("users:read",), ("users:write", "groups:write")])
def test_token_without_scim_scope_is_403(client, token_for, scopes):
    response = ScimApi(client, token_for(*scopes)).get("Users")
    body = assert_scim_error(response, 403)
    assert "scim" in body["detail"]


def test_admin_scope_implies_scim(scim_admin):
    assert scim_admin.get("Users").status_code == 200


@pytest.mark.parametrize(("raw", "needle"), [
    ("", "empty"),
    ("{not json", "not valid JSON"),
    ('["a list"]', "JSON object"),
    ("\xff\xfe", "JSON"),
    ('{"userName": "a@example.com",}', "not valid JSON"),
])
def test_bad_json_is_invalid_syntax(scim, raw, needle):
    body = assert_scim_error(scim.call("POST", "Users", raw=raw.encode("latin-1")), 400,
                             "invalidSyntax")
    assert needle in body["detail"]


def test_bad_json_in_patch_and_put(scim, make_user):
    user = make_user("ada@example.com")
    assert_scim_error(scim.call("PATCH", f"Users/{user.pk}", raw="{"), 400, "invalidSyntax")
    assert_scim_error(scim.call("PUT", f"Users/{user.pk}", raw="nope"), 400, "invalidSyntax")


def test_application_json_is_accepted_too(client, token_for):
    response = client.post("/scim/v2/Users", data=user_body(), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token_for('scim')}")
    assert response.status_code == 201


def test_unknown_resources_are_404(scim):
    for path in ("Users/424242", "Groups/424242", "Groups/x", "Schemas/urn:nope",
                 "ResourceTypes/Device", "Devices", "Users/1/extra"):
        assert_scim_error(scim.get(path), 404)
    assert_scim_error(scim.patch("Users/424242", {"op": "remove", "path": "active"}), 404)
    assert_scim_error(scim.put("Groups/424242", {"displayName": "x"}), 404)
    assert_scim_error(scim.delete("Groups/424242"), 404)


def test_methods_not_allowed_are_405(scim):
    response = scim.delete("Users")
    assert_scim_error(response, 405)
    assert response["Allow"] == "GET, POST"
    assert_scim_error(scim.post("Users/1", {}), 405)
    assert_scim_error(scim.put("ServiceProviderConfig", {}), 405)
    assert_scim_error(scim.get("Users/.search"), 405)


def test_bulk_and_me_are_501(scim):
    assert_scim_error(scim.post("Bulk", {"Operations": []}), 501)
    assert_scim_error(scim.get("Me"), 501)


def test_too_large_body_is_413(scim, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_scim_error(scim.post("Users", user_body(externalId="x" * 5000)), 413)


def test_trailing_slash_is_accepted(scim):
    assert scim.get("/scim/v2/Users/").status_code == 200


@pytest.mark.parametrize("payload", [
    None, 1, "x", [], {"userName": None}, {"userName": {"a": 1}}, {"name": []},
    {"emails": [1, 2]}, {"emails": [{"value": None}]}, {"active": [True]},
    {"userName": "a@example.com", "name": {"givenName": {}, "familyName": []}},
])
def test_garbage_never_causes_a_500(scim, make_user, payload):
    user = make_user("ada@example.com")
    for response in (scim.post("Users", payload), scim.put(f"Users/{user.pk}", payload),
                     scim.patch(f"Users/{user.pk}", {"op": "replace", "value": payload}),
                     scim.post("Groups", payload),
                     scim.patch(f"Users/{user.pk}", {"op": "add", "path": "emails",
                                                     "value": payload})):
        assert response.status_code < 500, response.content
        assert response["Content-Type"].startswith("application/scim+json") or \
            response.status_code in (200, 201)


@pytest.mark.parametrize("body, where", [
    ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a\x00@x.org",
      "name": {"givenName": "A", "familyName": "B"}}, "userName"),
    ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@x.org",
      "name": {"givenName": "A\x00", "familyName": "B"}}, "name.givenName"),
], ids=["userName", "givenName"])
def test_a_nul_character_in_a_string_is_a_400_naming_the_attribute(scim, body, where):
    response = scim.post("Users", body)
    assert response.status_code == 400
    assert where in response.json()["detail"] and "NUL" in response.json()["detail"]


@pytest.mark.parametrize("filter_text", ['userName eq "a\x00b"', 'displayName eq "\x00"'])
def test_a_nul_character_in_a_filter_is_a_400(scim, filter_text):
    response = scim.get("Users", filter=filter_text)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"
