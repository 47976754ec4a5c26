"""The toolkit endpoints Keystead mounts beyond the code flow: client credentials,
introspection (RFC 7662), revocation (RFC 7009), RP-initiated logout, and the
authorization request's ``prompt``, ``max_age`` and ``login_hint``."""

from __future__ import annotations

import base64
import datetime
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_application_model

from keystead.directory.models import Group, User
from keystead.login.models import SignedInSession
from keystead.policy.models import GroupPolicy

from .conftest import PASSWORD
from .helpers import (
    REDIRECT,
    authorize_params,
    basic,
    client_credentials,
    code_tokens,
    make_app,
    refresh,
    token_request,
)

Application = get_application_model()


def _introspect(app, secret, token):
    return Client().post("/oauth/introspect/", {"token": token}, **basic(app, secret))


def test_client_credentials_token_is_active_at_introspection(db):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    response = client_credentials(app, secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert "refresh_token" not in body  # RFC 6749 §4.4.3: no refresh token here
    answer = _introspect(app, secret, body["access_token"])
    assert answer.status_code == 200
    assert answer.json()["active"] is True
    assert answer.json()["client_id"] == app.client_id
    assert "username" not in answer.json()  # the token belongs to no person


def test_introspection_needs_client_authentication(db):
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials(app, secret).json()["access_token"]
    anonymous = Client().post("/oauth/introspect/", {"token": token})
    assert anonymous.status_code in {401, 403}
    assert b"active" not in anonymous.content
    wrong = _introspect(app, "not-the-secret", token)
    assert wrong.status_code in {401, 403}


def test_introspection_of_unknown_and_expired_tokens(browser_client, person):
    person.username = "G1906"
    person.save(update_fields=["username"])
    app, secret = make_app()
    assert _introspect(app, secret, "no-such-token").json() == {"active": False}
    tokens = code_tokens(browser_client, app, secret)
    active = _introspect(app, secret, tokens["access_token"]).json()
    assert active["active"] is True
    assert active["username"] == "G1906"  # RFC 7662's human-readable name: the user name
    later = timezone.now() + datetime.timedelta(hours=2)
    import time_machine
    with time_machine.travel(later):
        assert _introspect(app, secret, tokens["access_token"]).json() == {"active": False}


def test_revoked_refresh_token_is_refused(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    revoke = Client().post("/oauth/revoke_token/", {"token": tokens["refresh_token"],
                                                    "token_type_hint": "refresh_token"},
                           **basic(app, secret))
    assert revoke.status_code == 200
    refused = refresh(app, secret, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_answers_200(db):
    # RFC 7009 §2.2: an invalid token is not an error; the client has nothing to do.
    app, secret = make_app()
    response = Client().post("/oauth/revoke_token/", {"token": "never-issued"},
                             **basic(app, secret))
    assert response.status_code == 200


def test_revocation_needs_client_authentication(browser_client):
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    response = Client().post("/oauth/revoke_token/", {"token": tokens["refresh_token"]},
                             **basic(app, "wrong"))
    assert response.status_code in {400, 401}
    # Still usable: the refused revocation did nothing.
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200


def _logout_app():
    app, secret = make_app()
    app.post_logout_redirect_uris = "https://rp.example.com/signed-out"
    app.save()
    return app, secret


def test_rp_initiated_logout_to_a_registered_address(browser_client):
    app, secret = _logout_app()
    id_token = code_tokens(browser_client, app, secret)["id_token"]
    params = {"id_token_hint": id_token, "state": "s1",
              "post_logout_redirect_uri": "https://rp.example.com/signed-out"}
    page = browser_client.get("/oauth/logout/", params)
    assert page.status_code == 200  # Keystead asks before ending its own session
    done = browser_client.post("/oauth/logout/", {**params, "allow": "true"})
    assert done.status_code == 302
    assert done["Location"] == "https://rp.example.com/signed-out?state=s1"
    assert "_auth_user_id" not in browser_client.session
    assert browser_client.get("/").status_code == 302  # signed out: back to /login/


@pytest.mark.smoke
def test_rp_initiated_logout_takes_a_refreshed_id_token_as_hint(browser_client):
    """Any ID token Keystead issued for the application is a hint, not only the first."""
    app, secret = _logout_app()
    first = code_tokens(browser_client, app, secret)
    refreshed = refresh(app, secret, first["refresh_token"]).json()["id_token"]
    assert refreshed != first["id_token"]
    params = {"id_token_hint": refreshed, "client_id": app.client_id,
              "post_logout_redirect_uri": "https://rp.example.com/signed-out"}
    assert browser_client.get("/oauth/logout/", params).status_code == 200
    done = browser_client.post("/oauth/logout/", {**params, "allow": "true"})
    assert done.status_code == 302
    assert done["Location"] == "https://rp.example.com/signed-out"
    assert "_auth_user_id" not in browser_client.session


@pytest.mark.smoke
def test_rp_initiated_logout_refuses_a_forged_or_foreign_hint(browser_client):
    app, secret = _logout_app()
    other, _ = _logout_app()
    id_token = code_tokens(browser_client, app, secret)["id_token"]
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "999999"  # someone else, under the original signature
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    target = {"post_logout_redirect_uri": "https://rp.example.com/signed-out"}
    for hint, extra in ((f"{header}.{forged_payload}.{signature}", {}), ("not-a-token", {}),
                        (id_token, {"client_id": other.client_id})):
        response = browser_client.get("/oauth/logout/", {"id_token_hint": hint, **target, **extra})
        assert response.status_code == 400, hint
    assert "_auth_user_id" in browser_client.session  # still signed in


def test_rp_initiated_logout_refuses_an_unregistered_address(browser_client):
    app, secret = _logout_app()
    id_token = code_tokens(browser_client, app, secret)["id_token"]
    response = browser_client.get("/oauth/logout/", {
        "id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example.com/x"})
    assert response.status_code == 400
    assert "evil.example.com" not in response.get("Location", "")
    assert "_auth_user_id" in browser_client.session  # still signed in


def test_prompt_none_without_a_session_is_login_required(db):
    app, _ = make_app()
    response = Client().get("/oauth/authorize/", authorize_params(app, prompt="none"))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["error"] == ["login_required"]
    assert query["state"] == ["st"]


def test_without_a_session_the_person_is_sent_to_sign_in(db):
    app, _ = make_app()
    response = Client().get("/oauth/authorize/", authorize_params(app))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def _session_signed_in(client, when) -> None:
    """This browser session's own sign-in time (``SignedInSession``), which max_age reads."""
    SignedInSession.objects.filter(session_id=client.session.session_key).update(
        signed_in_at=when)


def test_max_age_exceeded_sends_the_person_to_sign_in_again(browser_client, person):
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(minutes=10))
    response = browser_client.get("/oauth/authorize/", authorize_params(app, max_age="60"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?prompt=login&next=")
    assert "_auth_user_id" in browser_client.session  # asked again, not signed out


def test_max_age_within_the_limit_issues_a_code(browser_client, person):
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(seconds=30))
    response = browser_client.get("/oauth/authorize/", authorize_params(app, max_age="600"))
    assert response.status_code == 302
    assert "code=" in response["Location"]
    assert response["Location"].startswith(REDIRECT)


def test_max_age_zero_means_sign_in_now(browser_client, person):
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(seconds=5))
    response = browser_client.get("/oauth/authorize/", authorize_params(app, max_age="0"))
    assert response["Location"].startswith("/login/?prompt=login&next=")


def test_max_age_with_prompt_none_is_login_required(browser_client, person):
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(minutes=10))
    response = browser_client.get("/oauth/authorize/",
                                  authorize_params(app, max_age="60", prompt="none"))
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT)
    assert "error=login_required" in response["Location"]


def test_after_signing_in_again_the_code_is_issued(browser_client, person):
    app, _ = make_app()
    _session_signed_in(browser_client, timezone.now() - datetime.timedelta(minutes=10))
    url = "/oauth/authorize/?" + urlencode(authorize_params(app, max_age="60"))
    to_login = browser_client.get(url)["Location"]
    signed_in = browser_client.post(to_login, {"username": person.email, "password": PASSWORD,
                                               "next": url})
    assert signed_in.status_code == 302
    again = browser_client.get(signed_in["Location"])
    assert again.status_code == 302
    assert again["Location"].startswith(REDIRECT)
    assert "code=" in again["Location"]


def test_login_hint_fills_in_the_email_on_the_sign_in_page(db):
    app, _ = make_app()
    response = Client().get("/oauth/authorize/",
                            authorize_params(app, login_hint="ada@example.com"))
    page = Client().get(response["Location"])
    assert page.status_code == 200
    assert b'value="ada@example.com"' in page.content


def test_password_grant_for_a_second_factor_member_is_a_clear_error(person):
    group = Group.objects.create(name="Admins")
    group.members.add(person)
    GroupPolicy.objects.create(group=group, require_second_factor=True)
    app, secret = make_app(grant=Application.GRANT_PASSWORD)
    response = token_request(app, secret, grant_type="password", username=person.email,
                             password=PASSWORD, scope="openid")
    assert response.status_code == 400
    assert response.json()["error"] == "second_factor_required"
    assert "access_token" not in response.json()
    assert User.objects.get(pk=person.pk).failed_logins == 0


def test_authorize_refusals_are_audited_without_the_challenge(browser_client):
    from keystead.directory.models import Event

    app, _ = make_app()
    wrong = authorize_params(app, redirect_uri="https://evil.example.com/cb")
    assert browser_client.get("/oauth/authorize/", wrong).status_code == 400
    plain = authorize_params(app, code_challenge_method="plain")
    assert "error=invalid_request" in browser_client.get("/oauth/authorize/", plain)["Location"]
    events = list(Event.objects.filter(action="oidc.authorize_refused").order_by("pk"))
    assert len(events) == 2
    for event, params in zip(events, (wrong, plain), strict=True):
        assert event.outcome == "denied"
        assert event.detail["client_id"] == app.client_id
        assert event.detail["error"] == "invalid_request"
        assert params["code_challenge"] not in str(event.detail)


def test_client_without_refresh_rotation_keeps_its_refresh_token(browser_client):
    from keystead.providers.oidc.models import ClientSettings

    app, secret = make_app()
    ClientSettings.objects.create(application=app, rotate_refresh_tokens=False)
    tokens = code_tokens(browser_client, app, secret)
    first = refresh(app, secret, tokens["refresh_token"])
    assert first.status_code == 200, first.content
    assert first.json()["refresh_token"] == tokens["refresh_token"]
    second = refresh(app, secret, tokens["refresh_token"])
    assert second.status_code == 200, second.content
    assert second.json()["access_token"] != first.json()["access_token"]


def test_refresh_and_client_credentials_grants_are_audited(browser_client):
    from keystead.directory.models import Event

    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret)
    assert refresh(app, secret, tokens["refresh_token"]).status_code == 200
    machine, machine_secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS, name="M")
    assert client_credentials(machine, machine_secret).status_code == 200
    issued = list(Event.objects.filter(action="oidc.token_issued").order_by("pk"))
    assert [e.detail["client_id"] for e in issued] == [app.client_id] * 2 + [machine.client_id]
    assert issued[-1].actor is None and issued[-1].actor_label == f"client {machine.client_id}"


def test_id_token_hint_for_someone_else_sends_to_sign_in(browser_client, person):
    app, secret = make_app()
    other = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)
    other_browser = Client()
    other_browser.force_login(other)
    hint = code_tokens(other_browser, app, secret)["id_token"]
    mine = code_tokens(browser_client, app, secret)["id_token"]

    same = browser_client.get("/oauth/authorize/", authorize_params(app, id_token_hint=mine))
    assert same["Location"].startswith(REDIRECT) and "code=" in same["Location"]
    silent = browser_client.get("/oauth/authorize/",
                                authorize_params(app, id_token_hint=hint, prompt="none"))
    assert "error=login_required" in silent["Location"]
    assert "_auth_user_id" in browser_client.session
    junk = browser_client.get("/oauth/authorize/", authorize_params(app, id_token_hint="x.y.z"))
    assert "code=" in junk["Location"]  # an unverifiable hint is ignored
    other_person = browser_client.get("/oauth/authorize/",
                                      authorize_params(app, id_token_hint=hint))
    assert other_person["Location"].startswith("/login/?prompt=login&next=")
    assert "id_token_hint" not in other_person["Location"]
    assert "_auth_user_id" in browser_client.session  # asked again, not signed out
