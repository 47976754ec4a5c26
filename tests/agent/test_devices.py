"""The server side of the agent: enrolment tokens, enrolment, signed requests, agent events,
the console list, and `keystead device token`."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from django.test import Client
from django.utils import timezone

from keystead.cli import main as keystead_command
from keystead.devices.models import Device, EnrollmentToken
from keystead.devices.services import (
    EnrollmentRefused,
    TokenRequest,
    change_device,
    create_token,
    delete_device,
)
from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Event, User
from keystead.secret import REDACTED
from keystead_agent import signing

from .helpers import agent_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    return agent_application()


@pytest.fixture
def token(app) -> str:
    return create_token(TokenRequest(client_id=app.client_id, mode="store"),
                        actor=OPERATOR)[1].reveal()


def enroll(token: str, key=None, **extra):
    key = key or signing.new_private_key()
    body = {"token": token, "name": "lab-01", "public_key": signing.public_pem(key), **extra}
    return Client().post("/devices/enroll", json.dumps(body), content_type="application/json")


def signed_headers(key, device_id: int, method: str, path: str, body: dict | None = None,
                   stamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    raw = json.dumps(body).encode() if body is not None else b""
    stamp = int(time.time()) if stamp is None else stamp
    nonce = nonce or signing.new_nonce()
    return {signing.DEVICE_HEADER: str(device_id), signing.TIME_HEADER: str(stamp),
            signing.NONCE_HEADER: nonce,
            signing.SIGNATURE_HEADER: signing.sign(key, method, path, stamp, nonce, raw,
                                                   device_id=device_id)}


def signed(key, device_id: int, method: str, path: str, body: dict | None = None,
           stamp: int | None = None, headers: dict[str, str] | None = None):
    raw = json.dumps(body).encode() if body is not None else b""
    headers = headers or signed_headers(key, device_id, method, path, body, stamp)
    client = Client()
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, raw, content_type="application/json", headers=headers)


def test_enrolment_gives_the_configuration_and_the_token_works_once(app, token):
    key = signing.new_private_key()
    answer = enroll(token, key)
    assert answer.status_code == 201, answer.content
    config = answer.json()
    assert config["client_id"] == app.client_id
    assert config["mode"] == "store" and config["check_seconds"] == 300
    assert config["token_url"].endswith("/oauth/token/")
    assert config["reset_url"].endswith("/reset")
    device = Device.objects.get(pk=config["device_id"])
    assert device.name == "lab-01" and device.public_key == signing.public_pem(key)
    again = enroll(token)
    assert again.status_code == 400
    assert "unknown, used or expired" in again.json()["problems"]["token"]
    assert Event.objects.filter(action="device.enroll", outcome="failure").count() == 1
    assert token not in json.dumps(list(Event.objects.values("detail")))


def test_expired_token_and_bad_key_are_refused(app):
    made, clear = create_token(TokenRequest(client_id=app.client_id), actor=OPERATOR)
    EnrollmentToken.objects.filter(pk=made.pk).update(expires_at=timezone.now()
                                                      - timedelta(seconds=1))
    assert enroll(clear.reveal()).status_code == 400
    _, fresh = create_token(TokenRequest(client_id=app.client_id), actor=OPERATOR)
    bad = Client().post("/devices/enroll", json.dumps({"token": fresh.reveal(), "name": "x",
                                                       "public_key": "nope"}),
                        content_type="application/json")
    assert bad.status_code == 400
    assert "Ed25519" in bad.json()["problems"]["public_key"]
    assert not Device.objects.exists()
    assert EnrollmentToken.objects.exclude(pk=made.pk).get().used_at is None


def test_token_needs_an_application_allowed_the_password_grant(app):
    from keystead.providers.oidc.models import ClientSettings

    ClientSettings.objects.filter(application=app).update(allowed_grants=["client-credentials"])
    with pytest.raises(EnrollmentRefused) as refused:
        create_token(TokenRequest(client_id=app.client_id, mode="sometimes", check_seconds=5),
                     actor=OPERATOR)
    assert set(refused.value.problems) == {"client_id", "mode", "check_seconds"}
    assert "password grant" in refused.value.problems["client_id"]


def test_a_signed_report_with_text_no_column_can_store_is_a_400_naming_it(token):
    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    sent = signed(key, device_id, "POST", "/devices/events", {
        "events": [{"event": "sign-in", "user": "ada\x00"}]})
    assert sent.status_code == 400 and "events[0].user" in sent.json()["problems"]
    sent = signed(key, device_id, "POST", "/devices/events", {"status": {"mode": "v\x00"}})
    assert sent.status_code == 400 and "status.mode" in sent.json()["problems"]
    assert not Event.objects.filter(action__startswith="agent.").exists()


def test_signed_requests_and_events(token):
    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    assert signed(key, device_id, "GET", "/devices/config").status_code == 200
    sent = signed(key, device_id, "POST", "/devices/events", {"events": [
        {"event": "local-password.sync", "user": "ada", "outcome": "success",
         "password": "Never-Stored-1"},
        {"event": "Not A Name"}], "status": {"mode": "store", "password": "Never-Stored-2"}})
    assert sent.status_code == 200 and sent.json() == {"recorded": 1}
    event = Event.objects.get(action="agent.local-password.sync")
    assert event.detail == {"event": "local-password.sync", "user": "ada", "outcome": "success"}
    assert event.actor_label == "computer lab-01"
    assert Device.objects.get().last_report == {"mode": "store", "password": REDACTED}
    refused = signed(key, device_id, "POST", "/devices/events", {"events": [
        {"event": "password-check", "user": "ada", "outcome": "refused"}]})
    assert refused.json() == {"recorded": 1}  # Keystead refused the sign-in: not a success
    assert Event.objects.get(action="agent.password-check").outcome == "failure"

    other = signing.new_private_key()
    assert signed(other, device_id, "GET", "/devices/config").status_code == 401
    old = int(time.time()) - signing.MAX_SKEW - 60
    assert signed(key, device_id, "GET", "/devices/config", stamp=old).status_code == 401
    assert Client().get("/devices/config").status_code == 401


def test_a_signed_request_is_accepted_once(token):
    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    body = {"events": [{"event": "sign-in", "user": "ada", "outcome": "success"}]}
    headers = signed_headers(key, device_id, "POST", "/devices/events", body)
    assert signed(key, device_id, "POST", "/devices/events", body,
                  headers=headers).status_code == 200
    replayed = signed(key, device_id, "POST", "/devices/events", body, headers=headers)
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["error_description"]
    assert Event.objects.filter(action="agent.sign-in").count() == 1  # recorded once
    assert Event.objects.filter(action="device.replay", outcome="denied").count() == 1
    # Without a nonce, or with a nonce the signature does not cover: refused.
    bare = dict(headers)
    bare.pop(signing.NONCE_HEADER)
    assert signed(key, device_id, "POST", "/devices/events", body,
                  headers=bare).status_code == 401
    swapped = {**headers, signing.NONCE_HEADER: signing.new_nonce()}
    assert signed(key, device_id, "POST", "/devices/events", body,
                  headers=swapped).status_code == 401
    # Nonces too old to come with an accepted time are pruned.
    from keystead.devices.models import SeenNonce

    SeenNonce.objects.update(seen_at=timezone.now() - timedelta(hours=1))
    assert signed(key, device_id, "GET", "/devices/config").status_code == 200
    assert SeenNonce.objects.count() == 1


def test_a_nonce_is_kept_as_long_as_its_request_time_is_accepted(token, monkeypatch):
    """A request stamped T is accepted from T - MAX_SKEW until just before T + MAX_SKEW + 1
    (the server compares whole seconds). Used at the earliest moment, its nonce must still
    be known at T + MAX_SKEW + 0.5, even after another request has pruned old nonces: the
    replay is refused. A moment after T + MAX_SKEW + 1 the time alone refuses it, and the
    nonce may go. The server's clock is set by the test."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from keystead.devices import rules, services
    from keystead.devices.models import SeenNonce

    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    stamp, skew = int(time.time()), signing.MAX_SKEW
    clock = [float(stamp - skew)]
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: clock[0]))
    monkeypatch.setattr(services, "timezone", SimpleNamespace(
        now=lambda: datetime.fromtimestamp(clock[0], UTC)))
    first = signed_headers(key, device_id, "GET", "/devices/config", stamp=stamp)
    assert signed(key, device_id, "GET", "/devices/config", headers=first).status_code == 200
    clock[0] = stamp + skew + 0.5  # still the second T + MAX_SKEW: stamp T is accepted
    assert signed(key, device_id, "GET", "/devices/config",  # prunes spent nonces
                  stamp=stamp + skew).status_code == 200
    replayed = signed(key, device_id, "GET", "/devices/config", headers=first)
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["error_description"]
    # The boundary itself: kept while the time could be accepted, and not longer.
    seen = SeenNonce.objects.get(nonce=first[signing.NONCE_HEADER])
    assert seen.seen_at == datetime.fromtimestamp(stamp - skew, UTC)

    def at(moment: float) -> datetime:
        return datetime.fromtimestamp(moment, UTC)

    last_accepted, first_refused = stamp + skew + 0.999, stamp + skew + 1.001
    assert rules.within_skew(stamp, int(last_accepted), skew)
    assert not services.spent_nonces(at(last_accepted)).filter(pk=seen.pk).exists()
    assert not rules.within_skew(stamp, int(first_refused), skew)
    assert services.spent_nonces(at(first_refused)).filter(pk=seen.pk).exists()


def test_a_deleted_device_must_enrol_again(token, admin_user):
    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get("/admin/devices/device/")
    assert page.status_code == 200 and "lab-01" in page.content.decode()
    refused = browser.post(f"/admin/devices/device/{device_id}/change/",
                           {"owner": admin_user.pk, "mode": "store", "check_seconds": 5})
    assert refused.status_code == 200 and "greater than or equal to 30" in refused.content.decode()
    assert not Event.objects.filter(action="device.change").exists()
    changed = browser.post(f"/admin/devices/device/{device_id}/change/",
                           {"owner": admin_user.pk, "mode": "do-not-store",
                            "check_seconds": 120})
    assert changed.status_code == 302, changed.content.decode()[:2000]
    device = Device.objects.get()
    assert (device.owner, device.mode, device.check_seconds) == (admin_user, "do-not-store", 120)
    assert Event.objects.get(action="device.change").detail == {
        "owner": admin_user.email, "mode": "do-not-store", "check_seconds": 120}
    # The agent reads the new mode and interval with its next signed request.
    config = signed(key, device_id, "GET", "/devices/config").json()
    assert (config["mode"], config["check_seconds"]) == ("do-not-store", 120)
    confirm = browser.post(f"/admin/devices/device/{device_id}/delete/", {"post": "yes"})
    assert confirm.status_code == 302
    assert not Device.objects.exists()
    assert Event.objects.filter(action="device.delete").count() == 1
    answer = signed(key, device_id, "GET", "/devices/config")
    assert answer.status_code == 401 and "enrol again" in answer.json()["error_description"]


def test_only_permitted_people_make_tokens(app):
    helper = User.objects.create_user("help@example.com", "Help", "Desk", is_staff=True)
    with pytest.raises(NotAllowed):
        create_token(TokenRequest(client_id=app.client_id), actor=Actor.person(helper))
    assert not EnrollmentToken.objects.exists()
    assert Event.objects.filter(action="device.token.create", outcome="denied").exists()


def test_only_permitted_people_change_or_delete_computers(token):
    """The services decide, whichever door asks; a refusal changes nothing and is audited."""
    device = Device.objects.get(pk=enroll(token).json()["device_id"])
    helper = User.objects.create_user("desk@example.com", "Help", "Desk", is_staff=True)
    with pytest.raises(NotAllowed, match=r"devices\.change_device"):
        change_device(device, owner=helper, mode="do-not-store", check_seconds=60,
                      actor=Actor.person(helper))
    with pytest.raises(NotAllowed, match=r"devices\.delete_device"):
        delete_device(device, actor=Actor.person(helper))
    device.refresh_from_db()
    assert (device.owner, device.mode, device.check_seconds) == (None, "store", 300)
    assert sorted(Event.objects.filter(outcome="denied").values_list("action", flat=True)) == [
        "device.change", "device.delete"]


def test_the_command_line_makes_a_token(app):
    result = CliRunner().invoke(keystead_command, ["device", "token", "--client-id", app.client_id,
                                                 "--mode", "store", "--hours", "2"])
    assert result.exit_code == 0, result.output
    clear = result.output.strip().splitlines()[-1]
    assert clear.startswith("kse_")
    assert enroll(clear).status_code == 201
    refused = CliRunner().invoke(keystead_command, ["device", "token", "--client-id", "nobody"])
    assert refused.exit_code == 2 and "No application has the client id" in refused.output


def test_the_console_makes_a_token_and_shows_it_once(app, admin_user):
    browser = Client()
    browser.force_login(admin_user)
    form = browser.get("/admin/devices/enrollmenttoken/add/")
    assert form.status_code == 200
    bad = browser.post("/admin/devices/enrollmenttoken/add/", {
        "application": app.client_id, "mode": "store", "check_seconds": 5, "hours": 24,
        "login_name": "email", "email_domain": ""})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "between 30 and 86400 seconds" in page and "give the email domain" in page
    made = browser.post("/admin/devices/enrollmenttoken/add/", {
        "application": app.client_id, "mode": "store", "check_seconds": 300, "hours": 24,
        "login_name": "local", "label": "lab"})
    assert made.status_code == 200
    clear = re.search(r'id="enrolment-token">(kse_[^<]+)<', made.content.decode()).group(1)
    # The command to copy reads the token from standard input: not on a command line.
    assert "--token -</pre>" in made.content.decode()
    assert made.content.decode().count(clear) == 1
    assert enroll(clear).status_code == 201
    listing = browser.get("/admin/devices/enrollmenttoken/").content.decode()
    assert "lab" in listing and clear not in listing
    helper = User.objects.create_user("desk@example.com", "Help", "Desk", is_staff=True)
    browser.force_login(helper)
    assert browser.get("/admin/devices/enrollmenttoken/add/").status_code == 403


def test_enrolment_is_throttled_per_address(app):
    from keystead.devices import rules

    for _ in range(rules.ENROLL_FAILURES):
        assert enroll("kse_guessed").status_code == 400
    _, clear = create_token(TokenRequest(client_id=app.client_id), actor=OPERATOR)
    held = enroll(clear.reveal())  # even a valid token waits: the address is held back
    assert held.status_code == 429
    assert "Too many failed enrolments" in held.json()["error_description"]
    assert 1 <= int(held["Retry-After"]) <= rules.ENROLL_WINDOW_SECONDS
    assert not Device.objects.exists()
    assert Event.objects.filter(action="device.enroll.throttled", outcome="denied").exists()
    other = Client(REMOTE_ADDR="192.0.2.7").post(
        "/devices/enroll", json.dumps({"token": clear.reveal(), "name": "lab-02",
                                       "public_key": signing.public_pem(
                                           signing.new_private_key())}),
        content_type="application/json")
    assert other.status_code == 201  # another address is not held back
    # The failures age out of the window.
    Event.objects.filter(action="device.enroll").update(
        created_at=timezone.now() - timedelta(seconds=rules.ENROLL_WINDOW_SECONDS + 1))
    assert enroll("kse_guessed").status_code == 400


def test_retry_after_rule():
    from keystead.devices.rules import retry_after

    assert retry_after([100, 200], 300, limit=3, window=600) is None
    assert retry_after([100, 200, 250], 300, limit=3, window=600) == 400
    assert retry_after([100, 200, 250], 701, limit=3, window=600) is None


class _FormValues(HTMLParser):
    """The values a browser would send for the page's form, as shown."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") and found.get("type") != "submit":
            self.values[found["name"]] = found.get("value") or ""
        elif tag == "select":
            self._select = found.get("name")
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = found.get("value") or ""


def test_the_console_form_keeps_what_another_administrator_saved_while_it_was_open(
        token, admin_user):
    """Two administrators on one computer's page: the second saves only the mode, so the
    owner the first assigned meanwhile stays. What the computer reported meanwhile is shown
    as its reported user and changes no owner."""
    key = signing.new_private_key()
    device_id = enroll(token, key).json()["device_id"]
    person = User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="ada")
    browser = Client()
    browser.force_login(admin_user)
    shown = _FormValues()
    shown.feed(browser.get(f"/admin/devices/device/{device_id}/change/").content.decode())
    assert shown.values["owner"] == "" and shown.values["mode"] == "store"
    # While the form is open, someone signs in on the computer, and another administrator
    # makes Ada the owner.
    report = {"events": [{"event": "sign-in", "user": "ada", "outcome": "success"}]}
    assert signed(key, device_id, "POST", "/devices/events", report).status_code == 200
    assert Device.objects.get().owner is None
    change_device(Device.objects.get(), owner=person, actor=OPERATOR)
    # The first administrator changes only the mode.
    saved = browser.post(f"/admin/devices/device/{device_id}/change/",
                         {**shown.values, "mode": "do-not-store"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    device = Device.objects.get()
    assert (device.owner, device.mode, device.reported_user) == (person, "do-not-store", "ada")
    assert [event.detail for event in Event.objects.filter(action="device.change")
            .order_by("id")] == [{"owner": "ada@example.com"}, {"mode": "do-not-store"}]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("label", "x" * 121, "The label must be at most 120 characters"),
        ("email_domain", "a" * 250 + ".org", "The email domain must be at most 253 characters"),
        ("reset_url", "https://a.test/" + "x" * 186, "at most 200 characters (this one has 201)"),
        ("reset_url", "javascript:alert(1)", "must be a web address beginning with https://"),
        ("reset_url", "ftp://files.example.com/reset", "beginning with https://"),
    ],
    ids=["label", "email_domain", "reset_url", "javascript", "ftp"],
)
def test_the_service_refuses_what_the_token_columns_cannot_hold(app, field, value, words):
    """Checked in the service, so the console, the command line and any later door give the
    same answer, naming the field, and never a database error."""
    with pytest.raises(EnrollmentRefused) as refused:
        create_token(TokenRequest(client_id=app.client_id, **{field: value}), actor=OPERATOR)
    assert list(refused.value.problems) == [field]
    assert words in refused.value.problems[field]
    assert not EnrollmentToken.objects.exists()


def test_the_longest_values_the_columns_hold_are_accepted(app):
    made, _ = create_token(TokenRequest(
        client_id=app.client_id, label="x" * 120, email_domain="a" * 249 + ".org",
        reset_url="https://a.test/" + "x" * 185), actor=OPERATOR)
    assert len(made.label) == 120 and len(made.reset_url) == 200


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("label", "x" * 300, "at most 120 characters"),
        ("email_domain", "a" * 300, "at most 253 characters"),
        ("reset_url", "https://a.test/" + "x" * 300, "at most 200 characters"),
    ],
    ids=["label", "email_domain", "reset_url"],
)
def test_the_console_shows_the_form_again_for_too_long_a_value(app, admin_user, field, value,
                                                                words):
    browser = Client()
    browser.force_login(admin_user)
    answer = browser.post("/admin/devices/enrollmenttoken/add/", {
        "application": app.client_id, "mode": "store", "check_seconds": 300, "hours": 24,
        "login_name": "local", field: value})
    assert answer.status_code == 400
    assert words in answer.content.decode()
    assert not EnrollmentToken.objects.exists()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--reset-url", "javascript:alert(1)", "must be a web address beginning with https://"),
        ("--label", "x" * 121, "The label must be at most 120 characters"),
        ("--email-domain", "x" * 254, "The email domain must be at most 253 characters"),
    ],
    ids=["javascript", "label", "email_domain"],
)
def test_the_command_line_refuses_what_the_console_refuses(app, option, value, words):
    result = CliRunner().invoke(keystead_command, ["device", "token", "--client-id",
                                                  app.client_id, option, value])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not EnrollmentToken.objects.exists()
