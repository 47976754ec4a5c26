"""ES256 ID tokens for applications set to it; the EC key in the JWKS, rotation of keys."""

from __future__ import annotations

from authlib.jose import JsonWebKey, JsonWebToken
from django.test import Client

from keystead.providers.oidc import keys, signing
from keystead.providers.oidc.models import ClientSettings

from .helpers import authorize, exchange, make_app, pkce_pair


def _es256_app():
    app, secret = make_app()
    app.post_logout_redirect_uris = "https://rp.example.com/signed-out"
    app.save()
    ClientSettings.objects.create(application=app, id_token_algorithm="ES256")
    return app, secret


def _id_token(browser_client, app, secret) -> str:
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    response = exchange(Client(), app, secret, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()["id_token"]


def _header(token: str) -> dict:
    import base64
    import json

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def test_es256_application_gets_es256_id_tokens_verifiable_with_the_jwks(browser_client, person):
    app, secret = _es256_app()
    token = _id_token(browser_client, app, secret)
    header = _header(token)
    assert header["alg"] == "ES256"
    jwks = Client().get("/.well-known/jwks.json").json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"] if k["alg"] == "ES256"}
    claims = JsonWebToken(["ES256"]).decode(token, JsonWebKey.import_key_set(jwks), claims_options={
        "iss": {"essential": True, "value": "http://testserver"},
        "aud": {"essential": True, "value": app.client_id},
        "nonce": {"essential": True, "value": "n-0S6"}})
    claims.validate()
    assert claims["sub"] == str(person.subject)
    assert claims["email"] == person.email


def test_other_applications_stay_on_rs256(browser_client):
    app, secret = make_app()
    assert _header(_id_token(browser_client, app, secret))["alg"] == "RS256"


def test_es256_id_token_works_as_a_logout_hint(browser_client):
    app, secret = _es256_app()
    token = _id_token(browser_client, app, secret)
    params = {"id_token_hint": token, "post_logout_redirect_uri": "https://rp.example.com/signed-out"}
    assert browser_client.get("/oauth/logout/", params).status_code == 200
    done = browser_client.post("/oauth/logout/", {**params, "allow": "true"})
    assert done.status_code == 302
    assert done["Location"] == "https://rp.example.com/signed-out"


def test_rotation_retires_the_key_and_keeps_it_published(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    signing.reset()
    try:
        before = signing.current_key().thumbprint()
        retired, _ = keys.rotate_signing_key(tmp_path, keys.ES256)
        assert retired is not None and retired.parent.name == keys.RETIRED_DIR
        signing.reset()
        after = signing.current_key().thumbprint()
        assert after != before
        assert {k["kid"] for k in signing.published_keys()} == {before, after}
        # the retired EC key is not mistaken for an RSA key, and the other way round
        assert keys.retired_signing_keys(tmp_path, keys.RS256) == []
        keys.load_or_create_signing_key(tmp_path)
        keys.rotate_signing_key(tmp_path)
        assert len(keys.retired_signing_keys(tmp_path, keys.RS256)) == 1
        assert len(keys.retired_signing_keys(tmp_path, keys.ES256)) == 1
    finally:
        signing.reset()


def test_logout_hint_signed_by_a_retired_rsa_key_is_still_recognised(browser_client, settings):
    app, secret = make_app()
    app.post_logout_redirect_uris = "https://rp.example.com/signed-out"
    app.save()
    token = _id_token(browser_client, app, secret)
    old = settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER,
                                "OIDC_RSA_PRIVATE_KEY": keys._generate_pem(),
                                "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [old]}
    params = {"id_token_hint": token, "post_logout_redirect_uri": "https://rp.example.com/signed-out"}
    done = browser_client.post("/oauth/logout/", {**params, "allow": "true"})
    assert done.status_code == 302, done.content[:300]
    assert done["Location"] == "https://rp.example.com/signed-out"
