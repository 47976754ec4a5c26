"""The authorization request's ``prompt`` (OpenID Connect Core §3.1.2.1): none, login,
consent, select_account and their combinations."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import Grant

from keystead.directory.models import Event, User

from .conftest import PASSWORD
from .helpers import REDIRECT, authorize_params, exchange, make_app, pkce_pair


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def _next(response) -> str:
    """The authorization address the sign-in page sends the person back to."""
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(("/login/?next=", "/login/?prompt=login&next=")), location
    return unquote(parse_qs(urlsplit(location).query)["next"][0])


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- prompt=none with anything else ------------------------------------------------

@pytest.mark.parametrize("prompt", ["none login", "none consent", "none select_account"])
@pytest.mark.parametrize("scope", ["openid", "email"])  # oauthlib checks only openid requests
def test_prompt_none_with_another_value_is_invalid_request(browser_client, prompt, scope):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/",
                                  authorize_params(app, prompt=prompt, scope=scope))
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT)
    answer = _query(response)
    assert answer["error"] == "invalid_request" and answer["state"] == "st"
    assert "code" not in answer
    assert _signed_in(browser_client)
    event = Event.objects.get(action="oidc.authorize_refused")
    assert event.detail["error"] == "invalid_request"


def test_prompt_none_with_another_value_without_a_session(db):
    app, _ = make_app()
    response = Client().get("/oauth/authorize/", authorize_params(app, prompt="none login",
                                                          scope="email"))
    assert _query(response)["error"] == "invalid_request"


def test_prompt_none_with_another_value_and_a_foreign_redirect_is_not_redirected(browser_client):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", authorize_params(
        app, prompt="none login", scope="email", redirect_uri="https://evil.example.com/cb"))
    assert response.status_code == 400
    assert "evil.example.com" not in response.get("Location", "")


# --- prompt=login: signing in again ------------------------------------------------

def test_prompt_login_signs_a_signed_in_person_in_again(browser_client, person):
    app, _ = make_app()
    url = "/oauth/authorize/?" + urlencode(authorize_params(app, prompt="login"))
    back = _next(browser_client.get(url))
    assert _signed_in(browser_client)  # asked again, but not signed out (item 6, issue 15)
    assert "prompt" not in parse_qs(urlsplit(back).query)
    event = Event.objects.get(action="oidc.reauthentication_required")
    assert event.detail["reason"] == "prompt=login"
    assert event.detail["client_id"] == app.client_id

    signed_in = browser_client.post("/login/?" + urlencode({"prompt": "login", "next": back}),
                                    {"username": person.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    done = browser_client.get(signed_in["Location"])
    assert done["Location"].startswith(REDIRECT) and "code" in _query(done)


def test_prompt_login_without_a_session_goes_to_sign_in_once(db):
    app, _ = make_app()
    back = _next(Client().get("/oauth/authorize/", authorize_params(app, prompt="login")))
    assert "prompt" not in parse_qs(urlsplit(back).query)


def test_prompt_login_for_an_invalid_request_keeps_the_session(browser_client):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", authorize_params(
        app, prompt="login", redirect_uri="https://evil.example.com/cb"))
    assert response.status_code == 400
    assert _signed_in(browser_client)


# --- prompt=select_account: one account per session, so choosing is signing in ------

def test_select_account_sends_the_person_to_the_sign_in_page(browser_client, person):
    other = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    app, _ = make_app()
    url = "/oauth/authorize/?" + urlencode(authorize_params(app, prompt="select_account"))
    back = _next(browser_client.get(url))
    assert _signed_in(browser_client)
    assert "prompt" not in parse_qs(urlsplit(back).query)
    assert Event.objects.get(action="oidc.reauthentication_required").detail["reason"] == \
        "prompt=select_account"

    # The person chooses the other account by signing in with it.
    signed_in = browser_client.post("/login/?" + urlencode({"prompt": "login", "next": back}),
                                    {"username": other.email, "password": PASSWORD})
    done = browser_client.get(signed_in["Location"])
    assert "code" in _query(done)
    assert Grant.objects.get(application=app).user == other  # the code is for the chosen one


# --- prompt=consent ------------------------------------------------------------------

def test_consent_page_even_for_an_application_that_skips_it(browser_client):
    app, _ = make_app()  # skip_authorization=True
    silent = browser_client.get("/oauth/authorize/", authorize_params(app))
    assert silent["Location"].startswith(REDIRECT)
    page = browser_client.get("/oauth/authorize/", authorize_params(app, prompt="consent"))
    assert page.status_code == 200
    assert b'name="allow"' in page.content
    assert page.context["application"] == app


def test_consent_page_even_for_scopes_approved_before(browser_client):
    app, secret = make_app()
    app.skip_authorization = False
    app.save()
    verifier, challenge = pkce_pair()
    params = authorize_params(app, code_challenge=challenge, approval_prompt="auto")
    page = browser_client.get("/oauth/authorize/", params)
    assert page.status_code == 200  # first time: asked
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    approved = browser_client.post("/oauth/authorize/", {**form, "allow": "Authorize"})
    code = _query(approved)["code"]
    token = exchange(Client(), app, secret, code, verifier)
    assert token.status_code == 200, token.content

    again = browser_client.get("/oauth/authorize/", authorize_params(app, approval_prompt="auto"))
    assert again.status_code == 302 and "code" in _query(again)  # approved before: no page
    forced = browser_client.get("/oauth/authorize/",
                                authorize_params(app, approval_prompt="auto", prompt="consent"))
    assert forced.status_code == 200
    assert b'name="allow"' in forced.content


def test_consent_answer_is_processed(browser_client):
    app, _ = make_app()
    page = browser_client.get("/oauth/authorize/", authorize_params(app, prompt="consent"))
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    denied = browser_client.post("/oauth/authorize/", form)  # no "allow": refused
    assert _query(denied)["error"] == "access_denied"
    allowed = browser_client.post("/oauth/authorize/", {**form, "allow": "Authorize"})
    assert "code" in _query(allowed)
    # Each answer is audited: the application and the scopes, given or refused.
    answers = list(Event.objects.filter(action="oidc.consent").order_by("id")
                   .values_list("outcome", "detail"))
    assert [outcome for outcome, _ in answers] == ["denied", "success"]
    assert all(detail == {"client_id": app.client_id, "scope": form["scope"]}
               for _, detail in answers)


def test_an_allow_that_ends_in_an_error_is_not_recorded_as_consent(browser_client):
    app, _ = make_app()
    page = browser_client.get("/oauth/authorize/", authorize_params(app, prompt="consent"))
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    answer = browser_client.post("/oauth/authorize/",
                                 {**form, "scope": "openid no-such-scope", "allow": "Authorize"})
    assert "error" in _query(answer)  # the application is told, no code
    assert not Event.objects.filter(action="oidc.consent").exists()


def test_login_and_consent_ask_for_both_in_turn(browser_client, person):
    app, _ = make_app()
    back = _next(browser_client.get("/oauth/authorize/",
                                    authorize_params(app, prompt="login consent")))
    assert parse_qs(urlsplit(back).query)["prompt"] == ["consent"]
    signed_in = browser_client.post("/login/?" + urlencode({"prompt": "login", "next": back}),
                                    {"username": person.email, "password": PASSWORD})
    page = browser_client.get(signed_in["Location"])
    assert page.status_code == 200 and b'name="allow"' in page.content


def test_anonymous_login_and_consent_keeps_consent_for_afterwards(db):
    app, _ = make_app()
    back = _next(Client().get("/oauth/authorize/", authorize_params(app, prompt="consent login")))
    assert parse_qs(urlsplit(back).query)["prompt"] == ["consent"]


def test_discovery_lists_the_prompt_values(db):
    document = Client().get("/.well-known/openid-configuration").json()
    assert set(document["prompt_values_supported"]) == {"none", "login", "consent",
                                                        "select_account"}
    assert "implicit" not in document["grant_types_supported"]
    assert "client_credentials" in document["grant_types_supported"]
