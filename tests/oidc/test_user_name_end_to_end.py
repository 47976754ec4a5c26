"""A person provisioned by SCIM with an employee number as user name signs in with it or
with their email, and applications see the user name as ``preferred_username``.

Over real HTTP against the live server: SCIM and the sign-in form through httpx, the
code flow through an independent OAuth client (Authlib), the ID token checked against
the published JWKS with joserfc.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from keystead.directory.models import User

from .helpers import REDIRECT, make_app

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Quarry-Lantern-Mosaic-73"


@pytest.fixture
def base(live_server, settings) -> str:
    settings.BASE_URL = live_server.url
    return live_server.url


def test_a_scim_person_signs_in_by_user_name_or_email(base, token_for):
    created = httpx.post(
        f"{base}/scim/v2/Users",
        headers={"Authorization": f"Bearer {token_for('scim')}",
                 "Content-Type": "application/scim+json"},
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
              "userName": "E12345", "password": PASSWORD,
              "name": {"givenName": "Grace", "familyName": "Hopper"},
              "emails": [{"value": "Grace.Hopper@Example.com", "type": "work",
                          "primary": True}]},
        timeout=30)
    assert created.status_code == 201, created.text
    person = User.objects.get(pk=int(created.json()["id"]))
    assert (person.username, person.email) == ("E12345", "grace.hopper@example.com")

    app, secret = make_app(redirect=REDIRECT)
    discovery = httpx.get(f"{base}/.well-known/openid-configuration", timeout=30).json()
    keys = KeySet.import_key_set(httpx.get(discovery["jwks_uri"], timeout=30).json())
    for typed in ("E12345", "e12345", "Grace.Hopper@example.com"):
        claims = jwt.decode(_id_token_after_signing_in(base, discovery, app, secret, typed),
                            keys).claims
        assert claims["preferred_username"] == "E12345", typed
        assert claims["email"] == "grace.hopper@example.com"
        assert claims["sub"] == str(person.subject)


def _id_token_after_signing_in(base: str, discovery: dict, app, secret: str,
                               typed: str) -> str:
    """A browser's sign-in by ``typed`` on the sign-in form, then the code flow with PKCE
    by Authlib; the ID token it receives."""
    verifier = secrets.token_urlsafe(48)
    with OAuth2Client(app.client_id, secret, scope="openid profile email",
                      redirect_uri=REDIRECT, code_challenge_method="S256",
                      token_endpoint_auth_method="client_secret_basic") as rp, \
            httpx.Client(base_url=base, timeout=30) as browser:
        authorize_url, _ = rp.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6")
        page = browser.get("/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        signed_in = browser.post("/login/", data={"csrfmiddlewaretoken": csrf,
                                                  "username": typed, "password": PASSWORD},
                                 headers={"Referer": f"{base}/login/"})
        assert signed_in.status_code == 302, signed_in.text[:500]
        answer = browser.get(authorize_url)
        assert answer.status_code == 302 and answer.headers["location"].startswith(REDIRECT)
        token = rp.fetch_token(discovery["token_endpoint"],
                               authorization_response=answer.headers["location"],
                               code_verifier=verifier)
    return token["id_token"]
