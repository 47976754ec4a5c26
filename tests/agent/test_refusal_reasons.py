"""Why Keystead stopped accepting a computer's sign-in, told apart: the token endpoint's
refused refresh names a stable ``reason`` (docs/agent.md), and the agent turns exactly
that answer into what it tells the person. The answers are the real token endpoint's;
a loopback server hands each one to the agent's own HTTP code unchanged."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import User
from keystead.login import sessions
from keystead.providers.oidc import live_tokens
from keystead.providers.oidc.models import ClientSettings
from keystead.secret import Secret
from keystead_agent import checks, remote
from keystead_agent.config import Config
from keystead_agent.remote import Check

from .helpers import agent_application

pytestmark = pytest.mark.django_db
PASSWORD = "Copper-Kettle-Orchard-47"


@pytest.fixture
def signed_in() -> tuple:
    """The agent's application, a person, and the refresh token of their sign-in through
    the password grant, as the agent signs in."""
    app = agent_application()
    person = User.objects.create_user("ada@example.com", "Ada", "Lovelace",
                                      password=PASSWORD, username="ada")
    answer = Client().post("/oauth/token/", {
        "grant_type": "password", "username": "ada", "password": PASSWORD,
        "scope": "openid profile", "client_id": app.client_id})
    assert answer.status_code == 200, answer.content
    return app, person, answer.json()["refresh_token"]


def refused(app, token: str) -> dict:
    answer = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                             "refresh_token": token,
                                             "client_id": app.client_id})
    assert answer.status_code in (400, 401), answer.content
    return answer.json()


def _password_changed(app, person) -> None:
    services.set_password(person, Secret("Another-Brass-Lantern-58"), actor=OPERATOR,
                          door="test")


def _signed_out_everywhere(app, person) -> None:
    sessions.sign_out_everywhere(person, actor=OPERATOR, door="test")


def _revoked_in_the_application(app, person) -> None:
    live_tokens.revoke(actor=OPERATOR, application=app, person=person, door="test")


def _disabled(app, person) -> None:
    services.set_active(person, False, actor=OPERATOR, door="test")


def _expired(app, person) -> None:
    ClientSettings.objects.filter(application=app).update(refresh_token_seconds=60)
    get_access_token_model().objects.filter(user=person).update(
        expires=timezone.now() - timedelta(hours=1))


def _application_no_longer_allowed(app, person) -> None:
    ClientSettings.objects.filter(application=app).update(issue_refresh_tokens=False)


SITUATIONS = [
    (_password_changed, "password_changed", checks.KEYSTEAD, "Your Keystead password changed"),
    (_signed_out_everywhere, "revoked", checks.REVOKED, "Keystead ended this computer's"),
    (_revoked_in_the_application, "revoked", checks.REVOKED, "Keystead ended this computer's"),
    (_disabled, "account_disabled", checks.DISABLED, "Your Keystead account is disabled"),
    (_expired, "expired", checks.EXPIRED, "has expired"),
    (_application_no_longer_allowed, "application_not_allowed", checks.NOT_ALLOWED,
     "no longer accepts this computer's application"),
]


@contextlib.contextmanager
def answering(body: bytes, status: int) -> Iterator[str]:
    """A loopback token endpoint that gives ``body`` to whatever asks."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/oauth/token/"
    finally:
        server.shutdown()
        server.server_close()


def agent_reads(app, token: str) -> remote.CheckResult:
    """The agent's refresh, answered with what Keystead answers now to ``token``."""
    answer = Client().post("/oauth/token/", {"grant_type": "refresh_token",
                                             "refresh_token": token,
                                             "client_id": app.client_id})
    with answering(answer.content, answer.status_code) as url:
        return remote.refresh(Config(token_url=url, client_id=app.client_id, timeout=5),
                              token)


@pytest.mark.parametrize(("make", "reason", "told", "summary"), SITUATIONS,
                         ids=[s[0].__name__.strip("_") for s in SITUATIONS])
def test_each_refusal_names_its_reason_and_the_agent_says_so(signed_in, make, reason,
                                                             told, summary):
    app, person, token = signed_in
    make(app, person)
    body = refused(app, token)
    assert body["reason"] == reason
    assert token not in str(body)
    result = agent_reads(app, token)
    assert result.check is not Check.RIGHT and result.reason == reason
    assert checks.refused_because(result) == told
    shown, _ = checks.message(told, "store")
    assert summary in shown


def test_password_change_after_a_revocation_is_not_called_one(signed_in):
    """The token was revoked before the password changed: that revocation is the reason."""
    app, person, token = signed_in
    _signed_out_everywhere(app, person)
    _password_changed(app, person)
    assert refused(app, token)["reason"] == "revoked"


@pytest.mark.parametrize("token", ["never-issued", None])
def test_a_token_keystead_does_not_know_names_no_reason(signed_in, token):
    """A guessed value, or one from another application, learns nothing more than
    before; the agent then asks the person to sign in again, not to change anything."""
    app, _person, own = signed_in
    if token is None:  # another application's token
        other = agent_application("Other agent")
        body = refused(other, own)
    else:
        body = refused(app, token)
    assert body["error"] == "invalid_grant" and "reason" not in body
    assert body["error_description"] == "The refresh token is not valid."
    result = agent_reads(app, token or "never-issued")
    assert result.reason == ""
    assert checks.refused_because(result) == checks.SIGN_IN_AGAIN
    summary, text = checks.message(checks.SIGN_IN_AGAIN, "do-not-store")
    assert summary == "Sign in to Keystead again" and "password changed" not in text


def test_an_unknown_reason_is_not_guessed_at():
    """A later Keystead's new reason, or any other text, is "sign in again"."""
    result = remote.CheckResult(Check.WRONG, reason="cosmic_rays")
    assert checks.refused_because(result) == checks.SIGN_IN_AGAIN


def test_descriptions_are_unchanged_by_the_reason(signed_in):
    """The human words stay as they were (clients may show them); the reason is beside."""
    app, person, token = signed_in
    _password_changed(app, person)
    body = refused(app, token)
    assert body["error"] == "invalid_grant"
    assert body["error_description"].startswith("The refresh token was used before")
    assert get_refresh_token_model().objects.filter(user=person, revoked__isnull=True) \
        .count() == 0
