"""Authorization requests sent by POST (OpenID Connect Core §3.1.2.1: the authorization
endpoint MUST support GET and POST), through Django's test client.

Every client here enforces Django's CSRF check and sends no CSRF token, as a browser
does when an application's page posts a form to Keystead: that post comes from another
site. The consent page's own answer is the one POST that must carry a token.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import Grant

from keystead.directory.models import Event

from .conftest import PASSWORD
from .helpers import REDIRECT, authorize_params, exchange, make_app, pkce_pair

AUTHORIZE = "/oauth/authorize/"
FORM = "application/x-www-form-urlencoded"
FROM_THE_APPLICATION = {"HTTP_ORIGIN": "https://rp.example.com",
                        "HTTP_REFERER": "https://rp.example.com/start"}


def _browser(person=None) -> Client:
    """A browser as Django's CSRF check sees it (signed in as ``person`` if given)."""
    client = Client(enforce_csrf_checks=True)
    if person is not None:
        client.force_login(person)
    return client


def _post(client: Client, params, path: str = AUTHORIZE):
    """The application's page posting the authorization request (a dict or pairs)."""
    return client.post(path, urlencode(params, doseq=True), content_type=FORM,
                       **FROM_THE_APPLICATION)


def _as_get(answer) -> str:
    """The GET address a POST request was sent on to (``303 See Other``)."""
    assert answer.status_code == 303, (answer.status_code, answer.content[:300])
    assert urlsplit(answer["Location"]).path == AUTHORIZE
    return answer["Location"]


def _pairs(address: str) -> list[tuple[str, str]]:
    return sorted((name, value) for name, values in
                  parse_qs(urlsplit(address).query, keep_blank_values=True).items()
                  for value in values)


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def _outcome(response) -> tuple[int, str]:
    return response.status_code, response.get("Location", "")


# --- the request goes on as the same GET, nothing lost --------------------------------

def test_a_post_request_is_answered_with_a_code_like_a_get(person):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    params = authorize_params(app, code_challenge=challenge, login_hint="grace@example.com")
    browser = _browser(person)

    address = _as_get(_post(browser, params))
    assert _pairs(address) == sorted(params.items())

    answer = browser.get(address)
    assert answer.status_code == 302 and answer["Location"].startswith(REDIRECT + "?")
    assert _query(answer)["state"] == "st"
    token = exchange(Client(), app, secret, _query(answer)["code"], verifier)
    assert token.status_code == 200, token.content  # the challenge came through intact


def test_a_post_request_without_a_session_signs_in_and_comes_back(person):
    app, _ = make_app()
    params = authorize_params(app)
    browser = _browser()

    address = _as_get(_post(browser, params))
    to_sign_in = browser.get(address)
    assert to_sign_in.status_code == 302
    assert to_sign_in["Location"].startswith("/login/?next=")
    back = unquote(parse_qs(urlsplit(to_sign_in["Location"]).query)["next"][0])
    assert _pairs(back) == sorted(params.items())  # every parameter kept

    browser.get(to_sign_in["Location"])  # the sign-in page sets the CSRF cookie
    signed_in = browser.post(to_sign_in["Location"], {
        "username": person.email, "password": PASSWORD,
        "csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert signed_in.status_code == 302
    assert urlsplit(signed_in["Location"]).path == AUTHORIZE
    assert _pairs(signed_in["Location"]) == sorted(params.items())
    done = browser.get(signed_in["Location"])
    assert done["Location"].startswith(REDIRECT + "?") and "code" in _query(done)


def test_parameters_in_the_address_and_the_body_are_both_kept(person):
    app, _ = make_app()
    params = authorize_params(app)
    in_address = {"client_id": params.pop("client_id")}
    address = _as_get(_post(_browser(person), params,
                            path=f"{AUTHORIZE}?{urlencode(in_address)}"))
    assert _pairs(address) == sorted({**params, **in_address}.items())


# --- the same refusals as a GET ------------------------------------------------------

@pytest.mark.parametrize("extra", [
    {"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."},
    {"request_uri": "https://rp.example.com/request.jwt"},
    {"max_age": "abc"},
    {"code_challenge": "abc"},
    {"nonce": "n" * 256},
    {"response_type": "token"},
    {"response_type": "code id_token"},
    {"prompt": "none login"},
    {"scope": "openid no-such-scope"},
    {"redirect_uri": "https://evil.example.com/cb"},
    {"client_id": "nobody"},
], ids=lambda extra: "-".join(extra)[:40])
def test_a_post_request_is_refused_as_the_get_is(person, extra):
    app, _ = make_app()
    params = authorize_params(app, **extra)
    browser = _browser(person)
    by_get = browser.get(AUTHORIZE, params)
    assert by_get.status_code == 400 or "error" in _query(by_get)
    refusals = Event.objects.filter(action="oidc.authorize_refused").count()
    assert refusals == 1

    by_post = browser.get(_as_get(_post(browser, params)))
    assert _outcome(by_post) == _outcome(by_get)
    assert by_post.content == by_get.content
    assert Event.objects.filter(action="oidc.authorize_refused").count() == refusals * 2


@pytest.mark.parametrize("name", ["state", "scope", "client_id", "redirect_uri"])
def test_a_repeated_parameter_in_a_post_is_refused_as_in_a_get(person, name):
    app, _ = make_app()
    params = [*authorize_params(app).items(), (name, "other")]
    browser = _browser(person)
    by_get = browser.get(f"{AUTHORIZE}?{urlencode(params)}")
    assert by_get.status_code == 400
    by_post = browser.get(_as_get(_post(browser, params)))
    assert _outcome(by_post) == _outcome(by_get)
    assert by_post.content == by_get.content


def test_a_parameter_in_both_the_address_and_the_body_counts_as_repeated(person):
    app, _ = make_app()
    params = authorize_params(app)
    by_post = _browser(person).get(_as_get(_post(
        _browser(person), params, path=f"{AUTHORIZE}?state=other")))
    assert by_post.status_code == 400 and "Location" not in by_post


def test_prompt_none_by_post_without_a_session_is_login_required(db):
    app, _ = make_app()
    browser = _browser()
    answer = browser.get(_as_get(_post(browser, authorize_params(app, prompt="none"))))
    assert answer["Location"].startswith(REDIRECT + "?")
    assert _query(answer) == {"error": "login_required", "state": "st"}


# --- what can never go on into an address -------------------------------------------

@pytest.mark.parametrize("name", ["client_secret", "code_verifier", "access_token"])
def test_a_secret_in_a_post_request_is_refused_not_moved_into_the_address(person, name):
    app, _ = make_app()
    answer = _post(_browser(person), authorize_params(app, **{name: "s3cret-value"}))
    assert answer.status_code == 400 and "Location" not in answer
    body = answer.json()
    assert body["error"] == "invalid_request" and name in body["error_description"]
    assert b"s3cret-value" not in answer.content
    event = Event.objects.get(action="oidc.request_refused")
    assert event.detail["parameters"] == [name]
    assert "s3cret-value" not in json.dumps(event.detail)


def test_a_post_request_that_is_not_a_form_is_refused(person):
    app, _ = make_app()
    answer = _browser(person).post(AUTHORIZE, json.dumps(authorize_params(app)),
                                   content_type="application/json", **FROM_THE_APPLICATION)
    assert answer.status_code == 400 and "Location" not in answer
    assert answer.json()["error"] == "invalid_request"
    assert "Content-Type" in answer.json()["error_description"]


# --- the consent page's answer: the one POST that needs a CSRF token ---------------

def _consent_page(person):
    app, _ = make_app()
    app.skip_authorization = False
    app.save()
    browser = _browser(person)
    page = browser.get(_as_get(_post(browser, authorize_params(app))))
    assert page.status_code == 200 and b'name="allow"' in page.content
    return app, browser, page


def test_the_consent_page_answers_with_its_marker_and_csrf_token(person):
    app, browser, page = _consent_page(person)
    assert b'name="keystead_consent"' in page.content
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    assert form["keystead_consent"] == "1"

    forged = _post(browser, {**form, "allow": "Authorize"})  # no token: from another site
    assert forged.status_code == 403
    assert not Grant.objects.filter(application=app).exists()

    approved = browser.post(AUTHORIZE, {**form, "allow": "Authorize",
                                        "csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert approved["Location"].startswith(REDIRECT + "?") and "code" in _query(approved)


@pytest.mark.parametrize("fields", [
    {"allow": "Authorize"},
    {"keystead_consent": "1", "allow": "Authorize"},
    {"csrfmiddlewaretoken": "x" * 64, "allow": "Authorize"},
], ids=["allow", "marker", "token"])
def test_an_authorization_request_cannot_answer_the_consent_page_itself(person, fields):
    """The consent form's fields are never authorization parameters: sent by another
    site they make a forged consent answer, refused by the CSRF check."""
    app, _ = make_app()
    app.skip_authorization = False
    app.save()
    answer = _post(_browser(person), {**authorize_params(app), **fields})
    assert answer.status_code == 403
    assert not Grant.objects.filter(application=app).exists()
