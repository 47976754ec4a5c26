"""OpenID Connect Back-Channel Logout 1.0: a real HTTP receiver on loopback gets the logout
token, which Authlib (an independent JOSE library) verifies against Keystead's JWKS."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from authlib.jose import JsonWebKey, JsonWebToken
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from keystead import health_checks
from keystead.directory import services
from keystead.directory.authorization import OPERATOR, Actor
from keystead.directory.models import Event, Outcome, User
from keystead.login import sessions
from keystead.providers.oidc import backchannel
from keystead.providers.oidc.models import (
    ClientSettings,
    LogoutDelivery,
    SessionApplication,
)
from keystead.secret import Secret

from .helpers import code_tokens, make_app, refresh

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A relying party's back-channel logout endpoint: a real HTTP server on loopback."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        received = self.received = []
        lock = self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if delay:
                    time.sleep(delay)
                with lock:
                    received.append({"form": form,
                                     "type": self.headers.get("Content-Type", "")})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tokens(self) -> list[str]:
        return [entry["form"]["logout_token"][0] for entry in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_sender_thread(settings):
    settings.OIDC_BACKCHANNEL_LOGOUT_THREAD = False  # the tests deliver at known moments


def rp(uri: str, *, session_required: bool = False, name: str = "Wiki"):
    app, secret = make_app(name=name)
    ClientSettings.objects.create(application=app, backchannel_logout_uri=uri,
                                  backchannel_logout_session_required=session_required)
    return app, secret


def verified(token: str, app) -> tuple[dict, dict]:
    """Header and claims of a logout token, checked by Authlib against the JWKS."""
    jwks = JsonWebKey.import_key_set(Client().get("/.well-known/jwks.json").json())
    claims = JsonWebToken(["RS256", "ES256"]).decode(token, jwks, claims_options={
        "aud": {"essential": True, "value": app.client_id},
        "iss": {"essential": True}, "iat": {"essential": True}, "exp": {"essential": True},
        "jti": {"essential": True}})
    claims.validate()
    return dict(claims.header), dict(claims)


def id_token_claims(token: str, app) -> dict:
    jwks = JsonWebKey.import_key_set(Client().get("/.well-known/jwks.json").json())
    return dict(JsonWebToken(["RS256", "ES256"]).decode(token, jwks))


def test_portal_sign_out_delivers_a_logout_token_the_rp_can_verify(browser_client, person,
                                                                  receiver):
    app, secret = rp(receiver.url)
    id_token = id_token_claims(code_tokens(browser_client, app, secret)["id_token"], app)
    assert id_token["sid"] and len(id_token["sid"]) >= 16
    assert id_token["sid"] != browser_client.session.session_key

    response = browser_client.post("/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in browser_client.session
    assert not receiver.received  # queued, not sent from the request

    assert backchannel.deliver_due().sent == 1
    [token] = receiver.tokens()
    assert receiver.received[0]["type"].startswith("application/x-www-form-urlencoded")
    header, claims = verified(token, app)
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == id_token["iss"] and claims["aud"] == app.client_id
    assert claims["sub"] == id_token["sub"] and claims["sid"] == id_token["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 120
    event = Event.objects.get(action="oidc.backchannel_logout")
    assert event.outcome == Outcome.SUCCESS and event.detail["client_id"] == app.client_id
    assert token not in json.dumps(event.detail)
    assert LogoutDelivery.objects.get().status == LogoutDelivery.Status.SENT
    assert not SessionApplication.objects.exists()
    assert backchannel.deliver_due().attempted == 0  # delivered once


def test_refreshed_id_token_keeps_the_sessions_sid(browser_client, receiver):
    app, secret = rp(receiver.url)
    first = code_tokens(browser_client, app, secret)
    sid = id_token_claims(first["id_token"], app)["sid"]
    refreshed = refresh(app, secret, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert id_token_claims(refreshed.json()["id_token"], app)["sid"] == sid


def test_only_this_sessions_applications_and_only_those_with_an_address(person, receiver):
    told, told_secret = rp(receiver.url, name="Told")
    silent, silent_secret = make_app(name="Silent")
    here, elsewhere = Client(), Client()
    here.force_login(person)
    elsewhere.force_login(person)
    code_tokens(here, told, told_secret)
    code_tokens(here, silent, silent_secret)
    other_sid = id_token_claims(code_tokens(elsewhere, told, told_secret)["id_token"],
                                told)["sid"]
    here.post("/logout/")
    backchannel.deliver_due()
    [token] = receiver.tokens()
    assert verified(token, told)[1]["sid"] != other_sid
    assert SessionApplication.objects.filter(sid=other_sid).exists()  # still signed in


def test_console_sign_out_delivers_too(admin_user, receiver):
    app, secret = rp(receiver.url)
    console = Client()
    console.force_login(admin_user)
    sid = id_token_claims(code_tokens(console, app, secret)["id_token"], app)["sid"]
    assert console.post("/admin/logout/").status_code in (200, 302)
    backchannel.deliver_due()
    [token] = receiver.tokens()
    assert verified(token, app)[1]["sid"] == sid


def test_disabling_a_person_tells_every_sessions_applications(person, receiver):
    needs_sid, needs_secret = rp(receiver.url, session_required=True, name="Needs sid")
    whole, whole_secret = rp(receiver.url, name="Whole person")
    sids = set()
    for _ in range(2):
        browser = Client()
        browser.force_login(person)
        sids.add(id_token_claims(code_tokens(browser, needs_sid, needs_secret)["id_token"],
                                 needs_sid)["sid"])
        code_tokens(browser, whole, whole_secret)
    services.set_active(person, False, actor=OPERATOR, door="test")
    assert backchannel.deliver_due().sent == 3
    by_client: dict[str, list[dict]] = {}
    for token in receiver.tokens():
        for app in (needs_sid, whole):
            try:
                by_client.setdefault(app.client_id, []).append(verified(token, app)[1])
            except Exception:
                continue
    assert {c["sid"] for c in by_client[needs_sid.client_id]} == sids
    [person_wide] = by_client[whole.client_id]
    assert "sid" not in person_wide and person_wide["sub"]  # every session of the person


def test_sign_out_everywhere_tells_the_applications(person, receiver):
    app, secret = rp(receiver.url)
    browser = Client()
    browser.force_login(person)
    code_tokens(browser, app, secret)
    sessions.sign_out_everywhere(person, actor=OPERATOR, door="test")
    backchannel.deliver_due()
    assert len(receiver.tokens()) == 1


@pytest.mark.parametrize("how", ["one", "all others"])
def test_ending_sessions_from_the_persons_list_tells_their_applications(person, receiver, how):
    """The person ends another of their sessions (or all but this one) from their list:
    that session's applications are told, with its sid; this one's are not."""
    app, secret = rp(receiver.url)
    here, there = Client(), Client()
    here.force_login(person)
    there.force_login(person)
    here_sid = id_token_claims(code_tokens(here, app, secret)["id_token"], app)["sid"]
    there_sid = id_token_claims(code_tokens(there, app, secret)["id_token"], app)["sid"]
    me = Actor.themselves(person)
    if how == "one":
        assert sessions.end_session(person, sessions.session_handle(there.session.session_key),
                                    actor=me, door="test")
    else:
        assert sessions.end_other_sessions(person, here.session.session_key, actor=me,
                                           door="test") == 1
    backchannel.deliver_due()
    [token] = receiver.tokens()
    assert verified(token, app)[1]["sid"] == there_sid
    assert SessionApplication.objects.filter(sid=here_sid).exists()


def test_password_change_tells_the_other_sessions_applications(person, receiver):
    app, secret = rp(receiver.url)
    other = Client()
    other.force_login(person)
    other_sid = id_token_claims(code_tokens(other, app, secret)["id_token"], app)["sid"]
    services.set_password(person, Secret("Another-Quarry-Lantern-91"), actor=OPERATOR,
                          door="test")
    backchannel.deliver_due()
    [token] = receiver.tokens()
    assert verified(token, app)[1]["sub"]
    assert not SessionApplication.objects.filter(sid=other_sid).exists()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_application_is_retried_then_given_up_and_sign_out_succeeds(
        browser_client, person):
    app, secret = rp(f"http://127.0.0.1:{closed_port()}/logout")
    code_tokens(browser_client, app, secret)
    response = browser_client.post("/logout/")
    assert response.status_code == 302 and "_auth_user_id" not in browser_client.session
    row = LogoutDelivery.objects.get()
    for attempt in range(1, backchannel.MAX_ATTEMPTS + 1):
        outcome = backchannel.deliver_due()
        row.refresh_from_db()
        assert row.attempts == attempt and row.last_error
        if attempt < backchannel.MAX_ATTEMPTS:
            assert outcome.retrying == 1 and row.status == LogoutDelivery.Status.QUEUED
            assert row.next_attempt_at > timezone.now()  # backoff: not due again at once
            assert backchannel.deliver_due().attempted == 0
            LogoutDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert row.status == LogoutDelivery.Status.FAILED
    assert backchannel.deliver_due().attempted == 0
    failures = Event.objects.filter(action="oidc.backchannel_logout", outcome=Outcome.FAILURE)
    assert failures.count() == backchannel.MAX_ATTEMPTS
    assert failures.filter(detail__given_up=True).count() == 1
    assert backchannel.retry_delay(1) < backchannel.retry_delay(2) < backchannel.retry_delay(3)
    # An operator sees it in `keystead check` and on the console's dashboard.
    warned = health_checks.check_backchannel_logouts()
    assert warned.status == health_checks.WARN
    assert "1 logout(s) given up on in the last 7 days" in warned.message
    assert app.name in warned.message and "logout_token" not in warned.message


def test_keystead_check_is_quiet_while_no_logout_was_given_up_on(db):
    assert health_checks.check_backchannel_logouts().status == health_checks.OK


def test_an_application_answering_an_error_is_retried(browser_client):
    failing = Receiver(status=400)
    try:
        app, secret = rp(failing.url)
        code_tokens(browser_client, app, secret)
        browser_client.post("/logout/")
        assert backchannel.deliver_due().retrying == 1
        assert "400" in LogoutDelivery.objects.get().last_error
    finally:
        failing.close()


def test_discovery_announces_back_channel_logout(db):
    document = Client().get("/.well-known/openid-configuration").json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert "sid" in document["claims_supported"]


# --- two senders -------------------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="row locks (SKIP LOCKED) need PostgreSQL")


def _queued(app, user, count: int) -> None:
    LogoutDelivery.objects.bulk_create(
        [LogoutDelivery(application=app, user=user, issuer="http://testserver/oauth",
                        subject="s", sid=f"sid-{n:03d}") for n in range(count)])


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_row_one_sender_holds_is_skipped_by_another():
    assert connection.vendor == "postgresql"
    user = User.objects.create_user("ada@example.com", "Ada", "L", password=None)
    app, _ = rp("http://127.0.0.1:9/never")
    _queued(app, user, 1)
    held, release = threading.Event(), threading.Event()
    seen = {}

    def first_sender() -> None:
        try:
            with transaction.atomic():
                seen["first"] = backchannel.claim_next(timezone.now())
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_sender)
    thread.start()
    assert held.wait(10) and seen["first"] is not None
    with transaction.atomic():
        assert backchannel.claim_next(timezone.now()) is None  # skipped, not waited for
    release.set()
    thread.join(10)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_senders_never_deliver_the_same_logout_twice():
    slow = Receiver(delay=0.05)
    try:
        user = User.objects.create_user("ada@example.com", "Ada", "L", password=None)
        app, _ = rp(slow.url)
        _queued(app, user, 12)
        done = {}

        def sender(name: str) -> None:
            try:
                done[name] = backchannel.deliver_due().sent
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sender, args=(n,)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        sids = [verified(token, app)[1]["sid"] for token in slow.tokens()]
        assert sorted(sids) == [f"sid-{n:03d}" for n in range(12)]  # each exactly once
        assert done["a"] + done["b"] == 12 and done["a"] and done["b"]
        assert not LogoutDelivery.objects.exclude(status=LogoutDelivery.Status.SENT).exists()
    finally:
        slow.close()


# --- settings ------------------------------------------------------------------------------

BAD = [("http://rp.example.com/logout", "https"), ("https://rp.example.com/logout#x", "fragment"),
       ("rp.example.com/logout", "absolute")]


@pytest.mark.parametrize(("uri", "words"), BAD)
def test_the_api_refuses_a_bad_back_channel_logout_uri(api_with, uri, words):
    api = api_with("clients:write")
    response = api.post("/api/v1/clients", {
        "name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"],
        "backchannel_logout_uri": uri})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == "backchannel_logout_uri" and words in error["message"]


def test_the_api_keeps_and_changes_the_setting(api_with):
    api = api_with("clients:write")
    created = api.post("/api/v1/clients", {
        "name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"],
        "backchannel_logout_uri": "https://wiki.example.com/bc",
        "backchannel_logout_session_required": True})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["backchannel_logout_uri"] == "https://wiki.example.com/bc"
    assert body["backchannel_logout_session_required"] is True
    client_id = body["client_id"]
    bad = api.patch(f"/api/v1/clients/{client_id}", {"backchannel_logout_uri": "http://x.test/"})
    assert bad.status_code == 400
    good = api.patch(f"/api/v1/clients/{client_id}",
                     {"backchannel_logout_uri": "http://127.0.0.1:8080/bc"})
    assert good.status_code == 200 and good.json()["backchannel_logout_uri"].startswith("http://127")


def test_the_console_form_names_the_field(admin_user):
    from .test_admin import ADD, registration

    console = Client()
    console.force_login(admin_user)
    page = console.post(ADD, registration(backchannel_logout_uri="http://rp.example.com/bc"))
    assert page.status_code == 200
    assert b"Back-channel logout URI: " in page.content
    saved = console.post(ADD, registration(backchannel_logout_uri="https://rp.example.com/bc",
                                           backchannel_logout_session_required="on"))
    assert b"this is the only time it is shown" in saved.content  # registered
    stored = ClientSettings.objects.get()
    assert stored.backchannel_logout_uri == "https://rp.example.com/bc"
    assert stored.backchannel_logout_session_required is True


@pytest.mark.django_db(transaction=True)
def test_the_background_sender_delivers_right_after_the_sign_out_commits(settings, receiver):
    settings.OIDC_BACKCHANNEL_LOGOUT_THREAD = True
    person = User.objects.create_user("ada@example.com", "Ada", "L", password=None)
    app, secret = rp(receiver.url)
    browser = Client()
    browser.force_login(person)
    sid = id_token_claims(code_tokens(browser, app, secret)["id_token"], app)["sid"]
    try:
        assert browser.post("/logout/").status_code == 302
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        [token] = receiver.tokens()
        assert verified(token, app)[1]["sid"] == sid
    finally:
        backchannel.sender.stop()
