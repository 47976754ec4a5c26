"""Discovery document, JWKS, claims and userinfo, and revocation on password change."""

from __future__ import annotations

import json

from authlib.jose import JsonWebKey, JsonWebToken
from django.test import Client
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event
from keystead.directory.services import set_password
from keystead.secret import Secret

from .helpers import authorize, basic, exchange, make_app, pkce_pair


def test_discovery_document(db):
    doc = Client().get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == "http://testserver"
    assert doc["authorization_endpoint"] == "http://testserver/oauth/authorize/"
    assert doc["token_endpoint"] == "http://testserver/oauth/token/"
    assert doc["userinfo_endpoint"] == "http://testserver/oauth/userinfo/"
    assert doc["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert doc["end_session_endpoint"] == "http://testserver/oauth/logout/"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    # HS256 would sign with the client secret, which Keystead stores hashed: not offered.
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(
        doc["scopes_supported"])
    assert {"sub", "email", "email_verified", "given_name", "family_name", "name", "groups",
            "password_changed_at"} <= set(doc["claims_supported"])


def test_jwks_publishes_public_keys_only(db):
    keys = Client().get("/.well-known/jwks.json").json()["keys"]
    assert {key["alg"] for key in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        if key["alg"] == "RS256":
            assert key["kty"] == "RSA" and key["n"] and key["e"]
        else:
            assert key["kty"] == "EC" and key["crv"] == "P-256" and key["x"] and key["y"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()


def _tokens(browser_client, scope="openid email profile groups"):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge, scope=scope)["code"]
    response = exchange(Client(), app, secret, code, verifier)
    assert response.status_code == 200, response.content
    return app, secret, response.json()


def test_id_token_and_userinfo_claims(browser_client, person):
    app, _, body = _tokens(browser_client)
    jwks = JsonWebKey.import_key_set(Client().get("/.well-known/jwks.json").json())
    claims = JsonWebToken(["RS256"]).decode(body["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": "http://testserver"},
        "aud": {"essential": True, "value": app.client_id},
        "nonce": {"essential": True, "value": "n-0S6"}})
    claims.validate()
    expected = {"sub": str(person.subject), "email": "grace@example.com", "email_verified": True,
                "given_name": "Grace", "family_name": "Hopper", "name": "Grace Hopper",
                "groups": ["Engineering"],
                "password_changed_at": int(person.password_changed_at.timestamp())}
    assert {k: claims[k] for k in expected} == expected
    info = Client().get("/oauth/userinfo/",
                        HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert {k: info[k] for k in expected} == expected


def test_claims_follow_scopes(browser_client, person):
    _, _, body = _tokens(browser_client, scope="openid")
    info = Client().get("/oauth/userinfo/",
                        HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert info == {"sub": str(person.subject)}


def test_password_change_revokes_refresh_and_access_tokens(browser_client, person):
    app, secret, body = _tokens(browser_client)
    set_password(person, Secret("Another-Password-Entirely-19"), actor=OPERATOR, door="test")
    assert not get_refresh_token_model().objects.filter(user=person, revoked__isnull=True).exists()
    assert not get_access_token_model().objects.filter(user=person).exists()
    refused = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                              "refresh_token": body["refresh_token"]},
                            **basic(app, secret))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    userinfo = Client().get("/oauth/userinfo/",
                            HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.status_code == 401
    event = Event.objects.get(action="oidc.tokens_revoked")
    assert event.target_id == str(person.pk)
    assert event.detail["refresh_tokens"] == 1
    assert body["refresh_token"] not in json.dumps(event.detail)


def test_rotated_refresh_token_reuse_revokes_the_family(browser_client, person):
    app, secret, body = _tokens(browser_client)
    first = body["refresh_token"]
    rotated = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                              "refresh_token": first}, **basic(app, secret))
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()["refresh_token"]
    assert second != first
    reuse = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                            "refresh_token": first}, **basic(app, secret))
    assert reuse.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest token no longer works either.
    after = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                            "refresh_token": second}, **basic(app, secret))
    assert after.json()["error"] == "invalid_grant"
