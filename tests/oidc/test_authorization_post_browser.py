"""An application's page posts the authorization request to Keystead (OpenID Connect Core
§3.1.2.1), in a real browser.

Chromium (Playwright) plays the person's browser; the application is another site
(``https://rp.example.com``, answered by Playwright's routing), so its form post is
cross-site: Chromium sends it without Keystead's ``SameSite=Lax`` session cookie and
without a CSRF token, as it would in production. Authlib plays the application's back
end: it builds the request, checks ``state`` and exchanges the code.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken

from .conftest import PASSWORD
from .helpers import REDIRECT, make_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
START = "https://rp.example.com/start"


def _form_page(action: str, params: list[tuple[str, str]]) -> str:
    """The application's page: the authorization request as a form posted to Keystead."""
    fields = "".join(f'<input type="hidden" name="{html.escape(name)}" '
                     f'value="{html.escape(value)}">' for name, value in params)
    return (f'<!doctype html><form method="post" action="{html.escape(action)}">{fields}'
            '<button type="submit">Sign in with Keystead</button></form>')


def _application_site(page, authorization_url: str) -> list[str]:
    """Serve the application's pages; the addresses the browser went to, in order."""
    endpoint = authorization_url.split("?", 1)[0]
    params = parse_qsl(urlsplit(authorization_url).query)

    def answer(route) -> None:
        if route.request.url.startswith(START):
            route.fulfill(content_type="text/html", body=_form_page(endpoint, params))
        else:  # the callback: the code is read from the address by the test
            route.fulfill(content_type="text/plain", body="signed in")

    page.route(re.compile(r"^https://rp\.example\.com/"), answer)
    visited: list[str] = []

    def note(request) -> None:
        if request.is_navigation_request():
            cookies = request.all_headers().get("cookie", "")
            visited.append(f"{request.method} {request.url} "
                           f"{'with' if 'sessionid=' in cookies else 'without'} session")

    page.on("request", note)
    return visited


def _sign_in_by_post(page, rp, discovery) -> tuple[dict, list[str], str]:
    """One authorization request posted from the application's page: the tokens, the
    navigations, and the nonce sent."""
    verifier, nonce = generate_token(64), generate_token(20)
    url, _ = rp.create_authorization_url(discovery["authorization_endpoint"],
                                         code_verifier=verifier, nonce=nonce)
    visited = _application_site(page, url)
    page.goto(START)
    page.get_by_role("button", name="Sign in with Keystead").click()
    page.wait_for_url(re.compile(r"/login/\?|" + re.escape(REDIRECT) + r"\?code="))
    if not page.url.startswith(REDIRECT):
        page.get_by_label("Email").fill("grace@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(REDIRECT) + r"\?code="))
    token = rp.fetch_token(discovery["token_endpoint"], authorization_response=page.url,
                           code_verifier=verifier)
    page.unroute_all()
    return token, visited, nonce


def test_an_application_signs_a_person_in_with_a_cross_site_form_post(page, live_server,
                                                                      settings, person):
    settings.BASE_URL = live_server.url
    app, secret = make_app()
    discovery = httpx.get(f"{live_server.url}/.well-known/openid-configuration",
                          timeout=30).json()
    jwks = JsonWebKey.import_key_set(httpx.get(discovery["jwks_uri"], timeout=30).json())
    with OAuth2Client(app.client_id, secret, redirect_uri=REDIRECT, scope="openid email",
                      code_challenge_method="S256", timeout=30) as rp:
        # Not signed in: the POST goes on as a GET, to the sign-in page and back.
        token, visited, nonce = _sign_in_by_post(page, rp, discovery)
        posted = [step for step in visited if step.startswith("POST ")]
        assert posted[0] == f"POST {discovery['authorization_endpoint']} without session"
        assert any(step.startswith(f"GET {live_server.url}/login/") for step in visited)
        claims = JsonWebToken(["RS256"]).decode(token["id_token"], jwks)
        assert claims["nonce"] == nonce and claims["aud"] == app.client_id
        assert claims["sub"] == str(person.subject)

        # Signed in now: the next post comes straight back with a code, no sign-in page,
        # although the browser sent no session cookie with the cross-site POST itself.
        token, visited, nonce = _sign_in_by_post(page, rp, discovery)
        assert not any("/login/" in step for step in visited)
        endpoint = discovery["authorization_endpoint"]
        assert f"POST {endpoint} without session" in visited
        assert any(step.startswith(f"GET {endpoint}?") and step.endswith(" with session")
                   for step in visited)
        assert JsonWebToken(["RS256"]).decode(token["id_token"], jwks)["nonce"] == nonce
