"""The refresh-token grant (Keystead's own, ``refresh_grant``), against the real database.

The ID token from a refresh verifies against the JWKS and keeps the original
sign-in's ``iss``, ``sub``, ``aud`` and ``auth_time`` (OpenID Connect Core
§12.2); the toolkit's introspection sees the new access token and no longer the
old one; concurrent presentations of one refresh token give it to exactly one
of them (PostgreSQL, several processes).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from authlib.jose import JsonWebKey, JsonWebToken
from django.db import connection
from django.test import Client
from oauth2_provider.models import RefreshToken, get_application_model

from keystead.directory.models import Event, User
from keystead.providers.oidc.models import ClientSettings
from login.helpers_live import database_url, live_keystead

from .conftest import PASSWORD
from .helpers import basic, code_tokens, make_app, refresh

Application = get_application_model()


def verified_claims(id_token: str) -> dict:
    keys = JsonWebKey.import_key_set(Client().get("/.well-known/jwks.json").json())
    claims = JsonWebToken(["RS256", "ES256"]).decode(id_token, keys)
    claims.validate()
    return dict(claims)


# Outside a test transaction, as in the server: the refresh then runs in its own transaction,
# which commits (and the conditional UPDATE's row lock is taken for real).
AUTOCOMMIT = pytest.param("autocommit", marks=pytest.mark.django_db(transaction=True))


@pytest.mark.smoke  # also on SQLite
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("database", ["test transaction", AUTOCOMMIT])
def test_the_refreshed_id_token_keeps_the_original_sign_in(browser_client, person, algorithm,
                                                          database):
    assert connection.get_autocommit() is (database == "autocommit")
    app, secret = make_app()
    if algorithm == "ES256":
        ClientSettings.objects.create(application=app, id_token_algorithm="ES256")
    first = code_tokens(browser_client, app, secret)
    answer = refresh(app, secret, first["refresh_token"])
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "openid email profile groups"
    assert json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[0] + "=="))["alg"] \
        == algorithm
    before, after = verified_claims(first["id_token"]), verified_claims(body["id_token"])
    for name in ("iss", "sub", "aud", "auth_time", "email", "given_name", "family_name",
                 "name", "groups", "password_changed_at"):
        assert after[name] == before[name], name
    assert "nonce" in before and "nonce" not in after  # §12.2: no nonce on refresh
    assert after["jti"] != before["jti"]
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert after["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


@pytest.mark.smoke
def test_introspection_sees_the_new_access_token_and_not_the_old(browser_client, person):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret)
    new = refresh(app, secret, first["refresh_token"]).json()

    def active(token):
        return Client().post("/oauth/introspect/", {"token": token},
                             **basic(app, secret)).json()["active"]

    assert active(new["access_token"]) is True
    assert active(first["access_token"]) is False
    userinfo = Client().get("/oauth/userinfo/",
                            HTTP_AUTHORIZATION=f"Bearer {new['access_token']}")
    assert userinfo.json()["email"] == person.email
    old = Client().get("/oauth/userinfo/",
                       HTTP_AUTHORIZATION=f"Bearer {first['access_token']}")
    assert old.status_code == 401


def test_no_token_is_stored_in_clear(browser_client):
    app, secret = make_app()
    new = refresh(app, secret, code_tokens(browser_client, app, secret)["refresh_token"]).json()
    stored = RefreshToken.objects.get(
        token_checksum=hashlib.sha256(new["refresh_token"].encode()).hexdigest())
    assert stored.token == "" and stored.access_token.token == ""


@pytest.mark.smoke
def test_a_narrower_scope_and_a_wider_one(browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret)
    narrow = refresh(app, secret, first["refresh_token"], scope="openid email")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "openid email"
    assert "given_name" not in verified_claims(narrow.json()["id_token"])
    # Wider than the original grant (openid email profile groups), not merely than the
    # narrowed token (test_refresh_original_scope).
    wider = refresh(app, secret, narrow.json()["refresh_token"],
                    scope="openid email offline_access")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


def test_a_disabled_account_cannot_refresh(browser_client, person):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["refresh_token"]
    User.objects.filter(pk=person.pk).update(is_active=False)
    answer = refresh(app, secret, token)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_description"] == "The account is disabled."
    event = Event.objects.filter(action="oidc.token_refused").latest("pk")
    assert event.detail["error_description"] == "The account is disabled."
    assert event.actor_label == f"client {app.client_id}"
    assert token not in json.dumps(event.detail)


def test_client_authentication_failures_are_invalid_client(browser_client):
    app, secret = make_app()
    token = code_tokens(browser_client, app, secret)["refresh_token"]
    wrong = refresh(app, "not-the-secret", token)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong["WWW-Authenticate"].startswith("Basic")
    bare = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                           "refresh_token": token, "client_id": app.client_id})
    assert bare.status_code == 401  # a confidential client must send its secret
    assert refresh(app, secret, token).status_code == 200  # nothing was spent by the failures


def test_a_public_client_refreshes_with_its_id_only(browser_client):
    app, _ = make_app(public=True)
    token = code_tokens(browser_client, app, "")["refresh_token"]
    answer = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                             "refresh_token": token,
                                             "client_id": app.client_id})
    assert answer.status_code == 200, answer.content
    with_secret = Client().post("/oauth/token/", {
        "grant_type": "refresh_token", "refresh_token": answer.json()["refresh_token"],
        "client_id": app.client_id, "client_secret": "anything"})
    assert with_secret.status_code == 401


def test_another_clients_token_is_refused_and_not_spent(browser_client):
    app, secret = make_app()
    other, other_secret = make_app(name="Other")
    token = code_tokens(browser_client, app, secret)["refresh_token"]
    assert refresh(other, other_secret, token).json()["error"] == "invalid_grant"
    assert refresh(app, secret, token).status_code == 200


def test_missing_refresh_token_is_invalid_request(db):
    app, secret = make_app()
    answer = Client().post("/oauth/token/", {"grant_type": "refresh_token"},
                           **basic(app, secret))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_a_rotated_out_token_presented_again_revokes_the_family(browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret)["refresh_token"]
    second = refresh(app, secret, first).json()["refresh_token"]
    replay = refresh(app, secret, first)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert replay.json()["error_description"].startswith("The refresh token was used before")
    assert refresh(app, secret, second).json()["error"] == "invalid_grant"  # the family too
    refused = Event.objects.filter(action="oidc.token_refused").order_by("pk")
    assert [e.detail["error_description"][:30] for e in refused] == [
        "The refresh token was used bef"] * 2
    assert first not in str([e.detail for e in refused])


def test_the_original_sign_in_time_survives_a_new_sign_in_and_a_nonce(browser_client, person):
    """§12.2: ``auth_time`` is the original authentication's, even after the person signed
    in again elsewhere; a ``nonce`` sent with the refresh is not echoed."""
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret)
    signed_in = verified_claims(first["id_token"])["auth_time"]
    User.objects.filter(pk=person.pk).update(
        last_login=person.last_login + datetime.timedelta(hours=1))
    answer = refresh(app, secret, first["refresh_token"], nonce="replayed-nonce")
    assert answer.status_code == 200, answer.content
    claims = verified_claims(answer.json()["id_token"])
    assert claims["auth_time"] == signed_in and "nonce" not in claims
    again = verified_claims(refresh(app, secret, answer.json()["refresh_token"]).json()["id_token"])
    assert again["auth_time"] == signed_in


@pytest.mark.slow
def test_concurrent_presentations_of_one_token_give_it_to_exactly_one(transactional_db,
                                                                        tmp_path):
    """Eight requests with the same refresh token at once, through four keystead serve workers,
    in several rounds (a fresh sign-in each): in every round exactly one gets new
    tokens, the seven others are refused as reuse, and the family, with the winner's
    new refresh token, is revoked. Without the conditional UPDATE (``revoked IS NULL``)
    a loser that read the token before the winner committed rotates it too: two or more
    get tokens, others a server error (two access tokens from one source token)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: several processes on one SQLite file prove nothing "
                    "about row locks (set KEYSTEAD_DATABASE_URL=postgres://...)")
    person = User.objects.create_user("grace@example.com", "Grace", "Hopper", password=PASSWORD)
    browser = Client()
    browser.force_login(person)
    app, secret = make_app()
    attempts, rounds = 8, 5
    auth = (app.client_id, secret)

    with live_keystead(database_url(connection.settings_dict), tmp_path, workers=4) as server:
        def present_at_once(token: str) -> list[httpx.Response]:
            barrier = threading.Barrier(attempts)

            def present(_: int) -> httpx.Response:
                with httpx.Client(timeout=60) as http:
                    http.get(f"{server.base}/healthz")  # connected before the barrier
                    barrier.wait(timeout=60)
                    return http.post(f"{server.base}/oauth/token/", auth=auth, data={
                        "grant_type": "refresh_token", "refresh_token": token})

            with ThreadPoolExecutor(attempts) as pool:
                return list(pool.map(present, range(attempts)))

        for _ in range(rounds):
            answers = present_at_once(code_tokens(browser, app, secret)["refresh_token"])
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] + [400] * (attempts - 1), statuses
            refused = [a.json() for a in answers if a.status_code == 400]
            assert {r["error"] for r in refused} == {"invalid_grant"}
            assert all(r["error_description"].startswith("The refresh token was used before")
                       for r in refused), refused
            # The replays revoked the family: the one refresh token handed out is dead too.
            winner = next(a.json() for a in answers if a.status_code == 200)
            assert refresh(app, secret, winner["refresh_token"]).json()["error"] == \
                "invalid_grant"
            assert not RefreshToken.objects.filter(application=app,
                                                   revoked__isnull=True).exists()

    issued = Event.objects.filter(action="oidc.token_issued", detail__grant_type="refresh_token")
    assert issued.count() == rounds
    reuse = Event.objects.filter(action="oidc.token_refused", detail__grant_type="refresh_token",
                                 detail__error_description__startswith="The refresh token was")
    assert reuse.count() == rounds * attempts  # seven losers and one late try per round
    assert "Traceback" not in server.log_path.read_text()


@pytest.mark.smoke
def test_without_openid_a_refresh_hands_out_no_id_token(browser_client):
    app, secret = make_app()
    first = code_tokens(browser_client, app, secret, scope="email")
    answer = refresh(app, secret, first["refresh_token"])
    assert answer.status_code == 200, answer.content
    assert "id_token" not in answer.json() and answer.json()["scope"] == "email"
    again = refresh(app, secret, answer.json()["refresh_token"])
    assert again.status_code == 200  # the chain goes on without ID tokens too
