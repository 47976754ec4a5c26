"""A small OAuth client over Django's test client: PKCE pairs, applications, code grants."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from oauth2_provider.models import get_application_model

Application = get_application_model()
REDIRECT = "https://rp.example.com/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_app(*, public: bool = False, grant: str = Application.GRANT_AUTHORIZATION_CODE,
             redirect: str = REDIRECT, name: str = "Test app") -> tuple:
    """An application and its secret in clear (as shown once at registration)."""
    secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant,
        redirect_uris=redirect,
        client_secret="" if public else secret,
        skip_authorization=True,
        algorithm=Application.RS256_ALGORITHM,
    )
    return app, ("" if public else secret)


def basic(app, secret: str) -> dict:
    raw = f"{app.client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def authorize(client, app, *, challenge: str | None, redirect: str = REDIRECT,
              scope: str = "openid email profile groups", nonce: str = "n-0S6") -> dict:
    """Ask for a code as a signed-in browser would; the redirect's query as a dict."""
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": redirect,
              "scope": scope, "state": "xyz", "nonce": nonce}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    response = client.get("/oauth/authorize/?" + urlencode(params))
    assert response.status_code == 302, response.content[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def exchange(client, app, secret: str, code: str, verifier: str | None,
             redirect: str = REDIRECT):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    if verifier is not None:
        data["code_verifier"] = verifier
    if not secret:
        data["client_id"] = app.client_id
        return client.post("/oauth/token/", data)
    return client.post("/oauth/token/", data, **basic(app, secret))


def code_tokens(browser_client, app, secret: str, scope: str = "openid email profile groups",
                ) -> dict:
    """The whole code flow with PKCE for a signed-in browser: the token response as a dict."""
    from django.test import Client

    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge, scope=scope)["code"]
    response = exchange(Client(), app, secret, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def token_request(app, secret: str, **data):
    """``POST /oauth/token/`` with the application's credentials in HTTP Basic."""
    from django.test import Client

    return Client().post("/oauth/token/", data, **basic(app, secret))


def refresh(app, secret: str, refresh_token: str, **extra):
    return token_request(app, secret, grant_type="refresh_token",
                         refresh_token=refresh_token, **extra)


def client_credentials(app, secret: str, **extra):
    return token_request(app, secret, grant_type="client_credentials", **extra)


def authorize_params(app, **extra) -> dict:
    """An authorization request's parameters (code flow, PKCE S256), ``extra`` on top."""
    _, challenge = pkce_pair()
    return {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT,
            "scope": "openid", "state": "st", "nonce": "n",
            "code_challenge": challenge, "code_challenge_method": "S256", **extra}
