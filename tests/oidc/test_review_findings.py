"""The OpenID Connect findings of the security review (issue 15), one section each."""

from __future__ import annotations

import base64
import datetime
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login.models import SignedInSession
from keystead.login.sessions import sign_out_everywhere
from keystead.providers.oidc.hashers import ClientSecretHasher
from keystead.providers.oidc.models import ClientSettings

from .conftest import PASSWORD
from .helpers import (
    REDIRECT,
    Application,
    authorize,
    authorize_params,
    basic,
    client_credentials,
    code_tokens,
    exchange,
    make_app,
    pkce_pair,
    refresh,
)
from .test_refresh_grant import verified_claims


def _session_signed_in(client, when) -> None:
    SignedInSession.objects.filter(session_id=client.session.session_key).update(
        signed_in_at=when)


# --- 1. max_age and auth_time are this session's sign-in -----------------------------

def test_max_age_reads_this_sessions_sign_in_not_a_newer_one_elsewhere(browser_client, person):
    """The person signed in on another device a moment ago; this session is 10 minutes
    old, so ``max_age=60`` asks again."""
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(minutes=10))
    elsewhere = Client()
    elsewhere.force_login(person)  # last_login is now
    response = browser_client.get("/oauth/authorize/?" + urlencode(
        authorize_params(app, max_age="60")))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?prompt=login&next=")


def test_max_age_passes_a_fresh_session(browser_client):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/", authorize_params(app, max_age="600"))
    assert response["Location"].startswith(REDIRECT) and "code=" in response["Location"]


def test_id_token_auth_time_is_this_sessions_sign_in(browser_client, person):
    app, secret = make_app()
    signed_in = timezone.now() - datetime.timedelta(hours=1)
    _session_signed_in(browser_client, signed_in)
    Client().force_login(person)  # a newer sign-in elsewhere moves last_login
    tokens = code_tokens(browser_client, app, secret)
    assert verified_claims(tokens["id_token"])["auth_time"] == int(signed_in.timestamp())
    refreshed = refresh(app, secret, tokens["refresh_token"]).json()
    assert verified_claims(refreshed["id_token"])["auth_time"] == int(signed_in.timestamp())


# --- 2. tokens and secrets in the query string are refused everywhere -------------------

@pytest.mark.parametrize("path", ["/oauth/userinfo/", "/oauth/introspect/", "/oauth/token/",
                                  "/oauth/revoke_token/", "/oauth/authorize/",
                                  "/oauth/logout/"])
def test_an_access_token_in_the_query_string_is_refused(browser_client, path):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    for method in (Client().get, Client().post):
        response = method(f"{path}?access_token={token}")
        assert response.status_code == 400, (path, response.status_code)
        body = response.json()
        assert body["error"] == "invalid_request"
        assert "access_token" in body["error_description"]
        assert "Authorization header" in body["error_description"]
    event = Event.objects.filter(action="oidc.request_refused").latest("pk")
    assert event.detail["parameters"] == ["access_token"]
    assert token not in json.dumps(event.detail)


def test_introspection_refuses_the_token_in_the_query_string(browser_client):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    response = Client().get(f"/oauth/introspect/?token={token}", **basic(app, secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_userinfo_with_the_token_in_the_header_still_works(browser_client):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    response = Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and response.json()["sub"]


# --- 3. introspection: confidential clients or the introspection scope only ------------

@pytest.fixture
def introspection_offered(settings):
    """The ``introspection`` scope among the provider's scopes, as settings.py offers it."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "SCOPES": {
        **settings.OAUTH2_PROVIDER["SCOPES"], "introspection": "Ask whether a token is active"}}


def test_a_public_client_cannot_introspect_anothers_token(browser_client, person):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    public, _ = make_app(public=True, name="Public")
    response = Client().post("/oauth/introspect/", {"token": token,
                                                    "client_id": public.client_id})
    assert response.status_code in {401, 403}
    assert person.email.encode() not in response.content and b"active" not in response.content
    event = Event.objects.get(action="oidc.introspection_refused")
    assert public.client_id in event.actor_label


def test_a_confidential_client_with_its_secret_may_introspect(browser_client):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    resource, resource_secret = make_app(name="Resource server")
    answer = Client().post("/oauth/introspect/", {"token": token},
                           **basic(resource, resource_secret))
    assert answer.status_code == 200 and answer.json()["active"] is True


def test_a_bearer_token_needs_the_introspection_scope(browser_client, introspection_offered):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    resource, resource_secret = make_app(name="Resource server",
                                         grant=Application.GRANT_CLIENT_CREDENTIALS)
    plain = client_credentials(resource, resource_secret, scope="openid").json()["access_token"]
    refused = Client().post("/oauth/introspect/", {"token": token},
                            HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert refused.status_code in {401, 403} and b"active" not in refused.content
    allowed = client_credentials(resource, resource_secret, scope="introspection")
    assert allowed.status_code == 200, allowed.content
    answer = Client().post("/oauth/introspect/", {"token": token},
                           HTTP_AUTHORIZATION=f"Bearer {allowed.json()['access_token']}")
    assert answer.status_code == 200 and answer.json()["active"] is True


def test_a_person_cannot_be_granted_the_introspection_scope(browser_client,
                                                             introspection_offered):
    app, _ = make_app()
    response = browser_client.get("/oauth/authorize/",
                                  authorize_params(app, scope="openid introspection"))
    assert "error=invalid_scope" in response["Location"]


# --- 4. a person's access ending ends their tokens -------------------------------------

def _userinfo(token):
    return Client().get("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")


def _introspect(app, secret, token):
    return Client().post("/oauth/introspect/", {"token": token}, **basic(app, secret))


def test_disabling_a_person_ends_their_tokens_for_good(browser_client, person):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    assert _userinfo(tokens["access_token"]).status_code == 200
    assert services.set_active(person, False, actor=OPERATOR, door="test")
    assert _userinfo(tokens["access_token"]).status_code in {401, 403}
    assert _introspect(app, secret, tokens["access_token"]).json() == {"active": False}
    assert refresh(app, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    event = Event.objects.get(action="oidc.tokens_revoked")
    assert event.detail["reason"] == "account disabled"
    assert event.detail["refresh_tokens"] == 1 and event.detail["access_tokens"] == 1
    assert services.set_active(person, True, actor=OPERATOR, door="test")
    assert _userinfo(tokens["access_token"]).status_code in {401, 403}
    assert refresh(app, secret, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_signing_out_everywhere_ends_tokens(browser_client, person):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    sign_out_everywhere(person, actor=OPERATOR)
    assert _userinfo(tokens["access_token"]).status_code in {401, 403}
    assert Event.objects.get(action="oidc.tokens_revoked").detail["reason"] == \
        "signed out everywhere"


def test_a_disabled_persons_token_is_inactive_even_before_revocation(browser_client, person):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["access_token"]
    User.objects.filter(pk=person.pk).update(is_active=False)  # no signal: the instant between
    assert _userinfo(token).status_code in {401, 403}
    assert _introspect(app, secret, token).json() == {"active": False}


# --- 5. a NUL character is a 400 at every door, never a 500 ---------------------------

_GRANTS = ["authorization_code", "password", "refresh_token", "client_credentials", "bogus"]


def _no_500_client() -> Client:
    return Client(raise_request_exception=False)


def _assert_invalid_request(response) -> None:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["error"] == "invalid_request" and "NUL" in body["error_description"]


@pytest.mark.parametrize("grant", _GRANTS)
def test_a_nul_in_client_id_at_the_token_endpoint(db, grant):
    data = {"grant_type": grant, "code": "c", "refresh_token": "r", "username": "u",
            "password": "p", "redirect_uri": REDIRECT}
    _assert_invalid_request(_no_500_client().post("/oauth/token/",
                                                  {**data, "client_id": "ab\x00c"}))
    _assert_invalid_request(_no_500_client().post(
        "/oauth/token/", data, HTTP_AUTHORIZATION="Basic " + base64.b64encode(
            b"ab\x00c:secret").decode()))


def test_a_nul_in_the_password_grants_username(db):
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = _no_500_client().post("/oauth/token/", {
        "grant_type": "password", "username": "grace\x00@example.com", "password": "x"},
        **basic(app, secret))
    _assert_invalid_request(response)
    event = Event.objects.get(action="oidc.request_refused")
    assert event.detail["parameters"] == ["username"]


@pytest.mark.parametrize("path", ["/oauth/logout/", "/oauth/authorize/"])
def test_a_nul_in_the_client_id_of_browser_endpoints(browser_client, path):
    browser_client.raise_request_exception = False
    _assert_invalid_request(browser_client.get(path, {"client_id": "a\x00b",
                                                      "response_type": "code"}))


@pytest.mark.parametrize("path", ["/oauth/revoke_token/", "/oauth/introspect/"])
def test_a_nul_at_revocation_and_introspection(db, path):
    _assert_invalid_request(_no_500_client().post(path, {"client_id": "a\x00b",
                                                         "token": "t"}))


# --- 6. prompt=login and max_age ask again without signing anyone out ------------------

def _to_login(response) -> str:
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?prompt=login&next="), response["Location"]
    return response["Location"]


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_asking_again_keeps_the_session_until_the_new_sign_in(browser_client, person, extra):
    app, _ = make_app()
    old_key = browser_client.session.session_key
    to_login = _to_login(browser_client.get("/oauth/authorize/",
                                            authorize_params(app, **extra)))
    # Still signed in: a link from another site cannot sign the person out.
    assert browser_client.session.session_key == old_key
    assert browser_client.get("/").status_code == 200
    # The sign-in page asks, although the browser is signed in.
    page = browser_client.get(to_login)
    assert page.status_code == 200 and b'name="password"' in page.content
    back = parse_qs(urlsplit(to_login).query)["next"][0]
    # Skipping the sign-in page (typing the address) does not pass.
    _to_login(browser_client.get(back))
    # Signing in again answers the request.
    signed_in = browser_client.post(to_login, {"username": person.email,
                                               "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == back
    assert SignedInSession.objects.get(session_id=browser_client.session.session_key
                                       ).signed_in_at > timezone.now() - datetime.timedelta(
                                           seconds=30)  # the new sign-in's time
    done = browser_client.get(back)
    assert done["Location"].startswith(REDIRECT) and "code=" in done["Location"]
    # Once answered, the same address needs no new sign-in.
    assert "code=" in browser_client.get(back)["Location"]


def test_the_sign_in_page_still_passes_a_signed_in_browser_on_without_prompt(browser_client):
    response = browser_client.get("/login/?next=/")
    assert response.status_code == 302 and response["Location"] == "/"


# --- 7. a replayed authorization code revokes what its first use produced -------------

def test_a_replayed_code_revokes_the_tokens_of_its_first_exchange(browser_client):
    app, secret = make_app()
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, app, challenge=challenge)["code"]
    first = exchange(Client(), app, secret, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    refreshed = refresh(app, secret, tokens["refresh_token"]).json()  # the family grows
    assert _userinfo(refreshed["access_token"]).status_code == 200

    replay = exchange(Client(), app, secret, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    for access in (tokens["access_token"], refreshed["access_token"]):
        assert _userinfo(access).status_code in {401, 403}
    assert refresh(app, secret, refreshed["refresh_token"]).json()["error"] == "invalid_grant"
    event = Event.objects.get(action="oidc.code_replayed")
    assert event.detail["client_id"] == app.client_id
    assert event.detail["access_tokens"] >= 1 and event.detail["refresh_tokens"] >= 1
    assert code not in json.dumps(event.detail)


def test_a_code_exchanged_once_keeps_its_tokens(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    assert _userinfo(tokens["access_token"]).status_code == 200
    assert not Event.objects.filter(action="oidc.code_replayed").exists()


# --- 8. invalid_client: an unknown client and a wrong secret look the same -------------

class CountingClientSecretHasher(ClientSecretHasher):
    """The real client-secret hasher, counting its verifications (work done per request)."""

    algorithm = "pbkdf2_client_secret_counted"
    verified = 0

    def verify(self, password, encoded):
        type(self).verified += 1
        return super().verify(password, encoded)


@pytest.fixture
def counting_hasher(settings):
    name = f"{__name__}.CountingClientSecretHasher"
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS, name]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER,
                                "CLIENT_SECRET_HASHER": CountingClientSecretHasher.algorithm}
    return CountingClientSecretHasher


def _client_refusal(grant, client_id, secret, how):
    data = {"grant_type": grant, "code": "c", "refresh_token": "r", "username": "u",
            "password": "p", "redirect_uri": REDIRECT}
    if how == "basic":
        raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        response = Client().post("/oauth/token/", data, HTTP_AUTHORIZATION=f"Basic {raw}")
    else:
        response = Client().post("/oauth/token/", {**data, "client_id": client_id,
                                                   "client_secret": secret})
    headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
    return response.status_code, response.content, headers


@pytest.mark.parametrize("grant", ["authorization_code", "password", "refresh_token",
                                   "client_credentials"])
@pytest.mark.parametrize("how", ["basic", "body"])
def test_unknown_client_and_wrong_secret_answer_and_work_alike(db, counting_hasher, grant, how):
    app, _ = make_app(name="Counted")  # its secret hashed with the counting hasher
    counting_hasher.verified = 0
    wrong = _client_refusal(grant, app.client_id, "not-the-secret", how)
    after_wrong = counting_hasher.verified
    unknown = _client_refusal(grant, "no-such-client", "not-the-secret", how)
    assert wrong == unknown
    assert wrong[0] == 401 and json.loads(wrong[1]) == {"error": "invalid_client"}
    assert after_wrong == 1
    assert counting_hasher.verified - after_wrong == 1  # the same work for an unknown id


# --- 9. sub: a stable opaque identifier, public or pairwise ----------------------------

def _pairwise(app, sector: str = "") -> None:
    ClientSettings.objects.update_or_create(application=app, defaults={
        "subject_type": "pairwise", "sector_identifier": sector})


def test_sub_is_the_persons_uuid_everywhere(browser_client, person):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    expected = str(person.subject)
    assert expected != str(person.pk) and len(expected) == 36
    assert verified_claims(tokens["id_token"])["sub"] == expected
    assert _userinfo(tokens["access_token"]).json()["sub"] == expected
    assert _introspect(app, secret, tokens["access_token"]).json()["sub"] == expected
    refreshed = refresh(app, secret, tokens["refresh_token"]).json()
    assert verified_claims(refreshed["id_token"])["sub"] == expected


def test_pairwise_subjects_differ_per_sector_and_stay_stable(browser_client, person):
    first, first_secret = make_app(name="One", redirect=REDIRECT)
    _pairwise(first)
    other, other_secret = make_app(name="Two", redirect="https://other.example.org/cb")
    _pairwise(other)
    tokens = code_tokens(browser_client, first, first_secret)
    sub = verified_claims(tokens["id_token"])["sub"]
    assert sub not in {str(person.subject), str(person.pk)}
    assert _userinfo(tokens["access_token"]).json()["sub"] == sub
    assert _introspect(first, first_secret, tokens["access_token"]).json()["sub"] == sub
    assert verified_claims(code_tokens(browser_client, first, first_secret)["id_token"]
                           )["sub"] == sub  # stable
    verifier, challenge = pkce_pair()
    code = authorize(browser_client, other, challenge=challenge,
                     redirect="https://other.example.org/cb")["code"]
    other_tokens = exchange(Client(), other, other_secret, code, verifier,
                            redirect="https://other.example.org/cb").json()
    assert verified_claims(other_tokens["id_token"])["sub"] != sub
    # The same sector identifier: the same sub.
    _pairwise(first, "apps.example.com")
    _pairwise(other, "apps.example.com")
    assert (_userinfo(tokens["access_token"]).json()["sub"]
            == _userinfo(other_tokens["access_token"]).json()["sub"])


def test_a_pairwise_id_token_hint_names_the_person_signed_in(browser_client):
    app, secret = make_app()
    _pairwise(app)
    hint = code_tokens(browser_client, app, secret)["id_token"]
    response = browser_client.get("/oauth/authorize/", authorize_params(app, id_token_hint=hint))
    assert response["Location"].startswith(REDIRECT) and "code=" in response["Location"]


def test_discovery_offers_public_and_pairwise(db):
    document = Client().get("/.well-known/openid-configuration").json()
    assert set(document["subject_types_supported"]) == {"public", "pairwise"}


def test_the_api_sets_and_shows_the_subject_type(api_with):
    api = api_with("clients:write")
    created = api.post("/api/v1/clients", {
        "name": "Pairwise app", "redirect_uris": [REDIRECT], "subject_type": "pairwise",
        "sector_identifier": "apps.example.com"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["subject_type"] == "pairwise" and body["sector_identifier"] == "apps.example.com"
    changed = api.patch(f"/api/v1/clients/{body['client_id']}", {"subject_type": "public"})
    assert changed.json()["subject_type"] == "public"
    assert ClientSettings.objects.get(application__client_id=body["client_id"]).subject_type == ""
    plain = api.post("/api/v1/clients", {"name": "Plain", "redirect_uris": [REDIRECT]}).json()
    assert plain["subject_type"] == "public" and plain["sector_identifier"] == ""
