"""The canary: a unique password set through every door must leak nowhere.

Each door below sets or uses a password that exists nowhere else. Afterwards
the test searches every log line (as the real handlers format it), every audit
event, every HTTP response (body and headers, with the signed messages cookie
decoded), every row of every table, the decoded data of every stored session and
every mail sent for it. ``test_scanner_finds_a_planted_canary`` proves the search itself can fail.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from django.http import HttpRequest
from django.test import Client

from keystead.directory.models import Event, User
from keystead.logs import HumanFormatter, JsonFormatter, RedactSecretsFilter
from keystead.secret import Secret

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


@dataclass
class Exposure:
    """Everything an attacker or an operator could read after the doors were used."""

    logs: io.StringIO = field(default_factory=io.StringIO)
    responses: list[bytes] = field(default_factory=list)

    def keep(self, response) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        body = b"" if getattr(response, "streaming", False) else response.content
        if "messages" in response.cookies:  # signed, so a plain search would miss it
            decoded = CookieStorage(HttpRequest())._decode(response.cookies["messages"].value)
            body += b"\n" + repr(decoded).encode()
        self.responses.append(headers.encode() + b"\n\n" + body)

    def places_holding(self, canary: str, *, mail_too: bool = True) -> list[str]:
        found = []
        for session in Session.objects.all():
            if canary in repr(session.get_decoded()):
                found.append(f"session {session.session_key[:6]}…")
        if mail_too:
            found += [f"mail {m.subject!r}" for m in mail.outbox
                      if canary in m.subject + m.body]
        if canary in self.logs.getvalue():
            found.append("log output")
        found += [f"HTTP response #{i}" for i, r in enumerate(self.responses)
                  if canary.encode() in r]
        for event in Event.objects.all():
            if canary in repr(event.__dict__):
                found.append(f"audit event {event.action}")
        found += [f"table {name}" for name in tables_holding(canary)]
        return found


def tables_holding(canary: str) -> Iterator[str]:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            if any(canary in repr(row) for row in cursor.fetchall()):
                yield table


@pytest.fixture
def exposure() -> Iterator[Exposure]:
    """Capture log output through the same filter and formatters production uses."""
    seen = Exposure()
    handlers = []
    for formatter in (HumanFormatter("%(name)s %(message)s"), JsonFormatter()):
        handler = logging.StreamHandler(seen.logs)
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecretsFilter())
        handler.setLevel(logging.DEBUG)
        handlers.append(handler)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield seen
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(old_level)


def new_canary() -> str:
    return f"Canary-{secrets.token_hex(12)}-Pw!"


Door = Callable[[Exposure, dict, str], None]


def api_create_user(seen: Exposure, ctx: dict, canary: str) -> None:
    response = ctx["api"].post("/api/v1/users", {
        "email": "api-door@example.com", "given_name": "Api", "family_name": "Door",
        "password": canary,
    })
    seen.keep(response)
    assert response.status_code == 201
    assert User.objects.get(email="api-door@example.com").check_password(canary)


def api_set_password(seen: Exposure, ctx: dict, canary: str) -> None:
    user = User.objects.create_user("api-set@example.com", "Api", "Set")
    response = ctx["api"].post(f"/api/v1/users/{user.pk}/password", {"password": canary})
    seen.keep(response)
    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(canary)


def api_rejected_payload(seen: Exposure, ctx: dict, canary: str) -> None:
    """A refused request must not echo the password back in its error."""
    response = ctx["api"].post("/api/v1/users", {
        "email": "not-an-email", "given_name": "", "family_name": "", "password": canary,
    })
    seen.keep(response)
    assert response.status_code == 400


def portal_sign_in(seen: Exposure, ctx: dict, canary: str) -> None:
    User.objects.create_user("portal@example.com", "Portal", "Door", password=canary)
    browser = Client()
    wrong = browser.post("/login/", {"username": "portal@example.com", "password": canary + "x"})
    seen.keep(wrong)
    assert wrong.status_code == 200
    right = browser.post("/login/", {"username": "portal@example.com", "password": canary})
    seen.keep(right)
    assert right.status_code == 302


def cli_housekeeping(seen: Exposure, ctx: dict, canary: str) -> None:
    """``keystead housekeeping``, dry run and real, over rows that held the canary (a
    signed-in session, a mail given up on long ago), then ``--status``: its output, log
    line and recorded run carry counts only."""
    from datetime import timedelta

    import time_machine
    from click.testing import CliRunner
    from django.utils import timezone

    from keystead.cli import main
    from keystead.login import outbox
    from keystead.login.models import OutgoingMail

    User.objects.create_user("tidy@example.com", "Tidy", "Door", password=canary)
    browser = Client()
    signed_in = browser.post("/login/", {"username": "tidy@example.com", "password": canary})
    seen.keep(signed_in)
    assert signed_in.status_code == 302
    mail = outbox.enqueue("tidy@example.com", "Your password", Secret(f"It is {canary}."))
    OutgoingMail.objects.filter(pk=mail.pk).update(status=OutgoingMail.Status.FAILED,
                                                   last_attempt_at=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(days=40)):
        for args in (["housekeeping", "--dry-run"], ["housekeeping"],
                     ["housekeeping", "--status"]):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
            seen.logs.write(result.output)
    assert not Session.objects.exists()
    assert not OutgoingMail.objects.filter(pk=mail.pk).exists()
    assert "1 outgoing mail" in result.output  # the status names the run that removed it


def _console(ctx: dict) -> Client:
    console = Client()
    console.force_login(ctx["admin"])
    return console


def admin_add_user(seen: Exposure, ctx: dict, canary: str) -> None:
    response = _console(ctx).post("/admin/directory/user/add/", {
        "email": "console-add@example.com", "given_name": "Console", "family_name": "Add",
        "password1": canary, "password2": canary, "_save": "Save",
    }, follow=True)
    seen.keep(response)
    assert User.objects.get(email="console-add@example.com").check_password(canary)


def admin_set_password(seen: Exposure, ctx: dict, canary: str) -> None:
    user = User.objects.create_user("console-set@example.com", "Console", "Set")
    response = _console(ctx).post(f"/admin/directory/user/{user.pk}/password/", {
        "password1": canary, "password2": canary, "set_usable_password": "true",
    }, follow=True)
    seen.keep(response)
    user.refresh_from_db()
    assert user.check_password(canary)


def admin_refused_password(seen: Exposure, ctx: dict, canary: str) -> None:
    """A password the policy refuses is reported on the form, not echoed back."""
    user = User.objects.create_user("console-weak@example.com", "Console", "Weak")
    weak = canary[:10]
    response = _console(ctx).post(f"/admin/directory/user/{user.pk}/password/", {
        "password1": weak, "password2": weak, "set_usable_password": "true",
    })
    seen.keep(response)
    assert response.status_code == 200
    assert b"at least 15 characters" in response.content
    assert weak.encode() not in response.content


def admin_people_import(seen: Exposure, ctx: dict, canary: str) -> None:
    """A spreadsheet with a password column is refused, and its passwords go nowhere:
    not the preview, not the session that keeps an accepted file, not a log."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("people.csv", (
        "email,given_name,family_name,password\n"
        f"csv-door@example.com,Csv,Door,{canary}\n").encode(), content_type="text/csv")
    response = _console(ctx).post("/admin/directory/user/import/", {"file": upload},
                                  follow=True)
    seen.keep(response)
    assert response.status_code == 200
    assert b"password" in response.content.lower()
    assert not User.objects.filter(email="csv-door@example.com").exists()


def scim_create_user(seen: Exposure, ctx: dict, canary: str) -> None:
    response = Client().post("/scim/v2/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "scim-door@example.com",
        "emails": [{"value": "scim-door@example.com"}],
        "name": {"givenName": "Scim", "familyName": "Door"},
        "password": canary,
    }, content_type="application/scim+json", headers=ctx["scim_headers"])
    seen.keep(response)
    assert response.status_code == 201, response.content
    assert User.objects.get(email="scim-door@example.com").check_password(canary)


def scim_patch_password(seen: Exposure, ctx: dict, canary: str) -> None:
    user = User.objects.create_user("scim-patch@example.com", "Scim", "Patch")
    response = Client().patch(f"/scim/v2/Users/{user.pk}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": canary}],
    }, content_type="application/scim+json", headers=ctx["scim_headers"])
    seen.keep(response)
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.check_password(canary)


def cli_set_password(seen: Exposure, ctx: dict, canary: str) -> None:
    from click.testing import CliRunner

    from keystead.cli import main

    User.objects.create_user("cli-door@example.com", "Cli", "Door")
    result = CliRunner().invoke(main, ["user", "set-password", "cli-door@example.com"],
                                input=f"{canary}\n{canary}\n")
    assert result.exit_code == 0, result.output
    seen.logs.write(result.output)
    assert User.objects.get(email="cli-door@example.com").check_password(canary)


def cli_password_filter_check(seen: Exposure, ctx: dict, canary: str) -> None:
    """``keystead password-filter check``: a password typed at its prompt to test it."""
    from click.testing import CliRunner

    from keystead.cli import main

    result = CliRunner().invoke(main, ["password-filter", "check"], input=f"{canary}\n")
    assert result.exit_code in (0, 1), result.output  # 1: some list holds it
    seen.logs.write(result.output)


PORTAL_START = "Vellum-Orchid-Tapestry-42"  # the password each portal person starts with


def _portal_person(email: str, **extra) -> tuple[User, Client]:
    user = User.objects.create_user(email, "Quill", "Harbour", password=PORTAL_START, **extra)
    return user, Client()


def portal_change(seen: Exposure, ctx: dict, canary: str) -> None:
    """Self-service change: the canary is the new password; one refused try, one accepted."""
    user, browser = _portal_person("change@example.com")
    seen.keep(browser.post("/login/", {"username": user.email, "password": PORTAL_START}))
    refused = browser.post("/password/change/", {
        "current_password": PORTAL_START, "new_password": canary, "confirm_password": canary + "x"})
    seen.keep(refused)
    assert refused.status_code == 200
    done = browser.post("/password/change/", {
        "current_password": PORTAL_START, "new_password": canary, "confirm_password": canary})
    seen.keep(done)
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(canary)


def portal_forced_change(seen: Exposure, ctx: dict, canary: str) -> None:
    """The change an administrator's flag forces at sign-in."""
    user, browser = _portal_person("forced@example.com", must_change_password=True)
    signed = browser.post("/login/", {"username": user.email, "password": PORTAL_START})
    seen.keep(signed)
    assert signed["Location"] == "/password/change-required/"
    seen.keep(browser.get("/password/change-required/"))
    done = browser.post("/password/change-required/",
                        {"new_password": canary, "confirm_password": canary})
    seen.keep(done)
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(canary)


def portal_reset(seen: Exposure, ctx: dict, canary: str) -> None:
    """Reset by mailed link (tests/login/test_reset.py checks the link's token leaks nowhere)."""
    user, browser = _portal_person("reset@example.com")
    seen.keep(browser.post("/reset", {"email": user.email}))
    token = ctx["deliver"]()[-1].body.split("/reset/", 1)[1].split()[0]
    seen.keep(browser.get(f"/reset/{token}"))
    seen.keep(browser.post("/reset/new-password",
                           {"new_password": canary, "confirm_password": canary + "x"}))
    done = browser.post("/reset/new-password", {"new_password": canary, "confirm_password": canary})
    seen.keep(done)
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(canary)


def portal_email_code(seen: Exposure, ctx: dict, canary: str) -> None:
    """Sign-in with a second factor: the password is the canary, and so is the emailed code.

    The code (10 digits, so it cannot turn up by chance) is read from the mail
    and added to ``ctx["canaries"]``: it must be nowhere but in that mail.
    """
    import re

    from keystead.policy.models import LogonPolicy

    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="password+2fa",
                                            email_code_length=10, remember_days=30)
    User.objects.create_user("code@example.com", "Code", "Door", password=canary)
    browser = Client()
    seen.keep(browser.post("/login/", {"username": "code@example.com", "password": canary}))
    seen.keep(browser.get("/login/verify/email/"))
    code = re.search(r"^\s+(\d{10})\s*$", ctx["deliver"]()[-1].body, re.M).group(1)
    ctx["canaries"].append(code)
    wrong = str((int(code) + 1) % 10**10).zfill(10)
    seen.keep(browser.post("/login/verify/email/", {"code": wrong}))
    seen.keep(browser.post("/login/verify/email/", {"resend": "1"}, follow=True))
    done = browser.post("/login/verify/email/", {"code": code, "remember": "on"})
    seen.keep(done)
    assert done.status_code == 302 and done["Location"] == "/"
    seen.keep(browser.get("/account/browsers"))


def oidc_password_grant(seen: Exposure, ctx: dict, canary: str) -> None:
    """An application sends the person's password to the token endpoint: once wrong, once
    right (the answer carries tokens, never the password)."""
    from oidc.helpers import Application, basic, make_app

    app, secret = make_app(grant=Application.GRANT_PASSWORD, redirect="", name="Canary")
    User.objects.create_user("grant@example.com", "Grant", "Door", password=canary)
    for password, status in ((canary + "x", 400), (canary, 200)):
        response = Client().post("/oauth/token/", {
            "grant_type": "password", "username": "grant@example.com", "password": password,
            "scope": "openid"}, **basic(app, secret))
        seen.keep(response)
        assert response.status_code == status, response.content


def portal_message(seen: Exposure, ctx: dict, canary: str) -> None:
    """A sign-in that leaves a message for the next page (the expiry warning) in the
    signed messages cookie."""
    from django.utils import timezone

    from keystead.policy.models import LogonPolicy

    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(expire_days=30, warn_days=14)
    user = User.objects.create_user("warned@example.com", "Warned", "Door", password=canary)
    User.objects.filter(pk=user.pk).update(
        password_changed_at=timezone.now() - timezone.timedelta(days=25))
    browser = Client()
    signed = browser.post("/login/", {"username": user.email, "password": canary})
    seen.keep(signed)
    assert "messages" in signed.cookies
    seen.keep(browser.get("/"))


def api_provisioning(seen: Exposure, ctx: dict, canary: str) -> None:
    """A connected system's secret set through the API, and a password queued for it:
    every provisioning response (systems, the queue, the archive, refusals) is searched."""
    from keystead.provisioning import queue
    from keystead.provisioning.models import Kind, System

    api = ctx["api"]
    settings = {"url": "postgresql+psycopg://app@127.0.0.1:1/apps", "table": "accounts",
                "key_column": "login"}
    created = api.post("/api/v1/systems", {"name": "canary-db", "connector": "sql",
                                           "settings": settings, "secret": canary,
                                           "read_only": True})
    seen.keep(created)
    assert created.status_code == 201
    system = System.objects.get(name="canary-db")
    assert system.secrets()["password"].reveal() == canary
    url = f"/api/v1/systems/{system.pk}"
    seen.keep(api.post("/api/v1/systems", {"name": "canary-db", "connector": "sql",
                                           "settings": {}, "secret": canary}))  # refused
    seen.keep(api.patch(url, {"secret": canary, "settings": {"table": "x"}}))  # refused
    seen.keep(api.patch(url, {"secret": canary}))
    seen.keep(api.post(f"{url}/test", {}))  # the database refuses: its message is returned
    seen.keep(api.get(url))
    seen.keep(api.get("/api/v1/systems"))
    operation = queue.enqueue(system, "canary", Kind.CREATE, attributes={"cn": "Canary"},
                              password=Secret(canary))
    seen.keep(api.get("/api/v1/operations"))
    seen.keep(api.get(f"/api/v1/operations/{operation.id}"))
    seen.keep(api.post(f"/api/v1/operations/{operation.id}/retry", {}))  # read-only: 409
    seen.keep(api.post(f"/api/v1/operations/{operation.id}/cancel", {}))
    seen.keep(api.get("/api/v1/archive"))
    assert seen.responses[-1].count(b'"had_password": true') == 1


@pytest.fixture(scope="module")
def ldap_directory():
    """A real slapd for the LDAP doors, started only when one of them runs."""
    from sources.ldap.slapd import start_slapd, stop_slapd

    server = start_slapd()
    try:
        yield server
    finally:
        stop_slapd(server)


def _ldap_source(ctx: dict, **values):
    from sources.ldap.helpers import make_source, use_strategy

    use_strategy("ldap")
    return make_source(ctx["ldap"](), **values)


def ldap_console_bind_password(seen: Exposure, ctx: dict, canary: str) -> None:
    """The service account's password typed into the console, then used by Test connection
    (the directory's service account is given the canary as its password first)."""
    import ldap

    server = ctx["ldap"]()

    def service_password(value: str) -> None:
        conn = server.admin()
        conn.modify_s(server.service_dn, [(ldap.MOD_REPLACE, "userPassword", [value.encode()])])
        with contextlib.suppress(ldap.NO_SUCH_ATTRIBUTE):  # ppolicy marks a reset by another
            conn.modify_s(server.service_dn, [(ldap.MOD_DELETE, "pwdReset", None)])
        conn.unbind_s()

    service_password(canary)
    try:
        _console_bind_password(seen, ctx, canary, server)
    finally:
        service_password(server.service_password)  # the other LDAP doors use the original


def _console_bind_password(seen: Exposure, ctx: dict, canary: str, server) -> None:
    from keystead.sources.ldap.models import LdapSource

    console = _console(ctx)
    form = {"name": "Canary directory", "enabled": "on", "kind": "openldap",
            "mode": "read_only", "host": server.host, "port": server.ldaps_port,
            "method": "ldaps", "ca_certificate": server.ca_pem,
            "base_dn": f"ou=people,{server.base_dn}", "user_key": "uid",
            "bind_dn": server.service_dn, "bind_password": canary, "connect_timeout": 3,
            "operation_timeout": 5, "unique_id_attribute": "entryUUID",
            "email_attribute": "mail", "given_name_attribute": "givenName",
            "family_name_attribute": "sn", "username_attribute": "uid",
            "group_filter": "(objectClass=groupOfNames)", "group_member_attribute": "member",
            "sync_interval_minutes": 60}
    seen.keep(console.post("/admin/ldap_source/ldapsource/add/", form, follow=True))
    source = LdapSource.objects.get(name="Canary directory")
    assert source.bind_password.reveal() == canary
    seen.keep(console.get(f"/admin/ldap_source/ldapsource/{source.pk}/change/"))
    tested = console.post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                          {"action": "connection"})
    seen.keep(tested)
    assert b"Connection test passed" in tested.content
    wrong = console.post(f"/admin/ldap_source/ldapsource/{source.pk}/change/",
                         {**form, "bind_password": canary, "port": "not a port"})
    seen.keep(wrong)
    assert wrong.status_code == 200


def ldap_sign_in_and_writeback(seen: Exposure, ctx: dict, canary: str) -> None:
    """A person signs in through the directory, then changes the password to the canary in
    the portal (writable mode: written to the directory), then signs in with it."""
    from sources.ldap.helpers import add_person, binds

    server = ctx["ldap"]()
    _ldap_source(ctx, mode="writable")
    dn = add_person(server, "ldap-door", PORTAL_START)
    browser = Client()
    first = browser.post("/login/", {"username": "ldap-door", "password": PORTAL_START})
    seen.keep(first)
    assert first.status_code == 302
    done = browser.post("/password/change/", {
        "current_password": PORTAL_START, "new_password": canary, "confirm_password": canary})
    seen.keep(done)
    assert done.status_code == 302
    assert binds(server, dn, canary)
    seen.keep(Client().post("/login/", {"username": "ldap-door", "password": canary + "x"}))
    seen.keep(browser.post("/login/", {"username": "ldap-door", "password": canary}))


def ldap_console_test_sign_in(seen: Exposure, ctx: dict, canary: str) -> None:
    """A person's directory password typed into the console's Test sign-in."""
    from sources.ldap.helpers import add_person

    server = ctx["ldap"]()
    source = _ldap_source(ctx)
    add_person(server, "ldap-tested", canary)
    response = _console(ctx).post(f"/admin/ldap_source/ldapsource/{source.pk}/test/",
                                  {"action": "sign-in", "username": "ldap-tested",
                                   "password": canary})
    seen.keep(response)
    assert b"Sign-in test passed" in response.content


def device_enrolment_and_events(seen: Exposure, ctx: dict, canary: str) -> None:
    """The agent's doors: a guessed enrolment token, a real one (made by the CLI's service
    and used once), a real one refused for a key already enrolled, and a signed event
    that carries a password field: none of them may keep or echo the token or the
    password."""
    import json
    import time

    from agent.helpers import agent_application
    from keystead.devices.services import TokenRequest, create_token
    from keystead.directory.authorization import OPERATOR
    from keystead_agent import signing

    def enroll(token: str, key) -> object:
        response = Client().post("/devices/enroll", json.dumps({
            "token": token, "name": "canary-pc", "public_key": signing.public_pem(key)}),
            content_type="application/json")
        seen.keep(response)
        return response

    key = signing.new_private_key()
    assert enroll(canary, key).status_code == 400
    _, clear = create_token(TokenRequest(client_id=agent_application().client_id,
                                         mode="store"), actor=OPERATOR)
    ctx["canaries"].append(clear.reveal())
    enrolled = enroll(clear.reveal(), key)
    assert enrolled.status_code == 201, enrolled.content
    # A second real token with a key already enrolled: refused (409), the token unused.
    _, again = create_token(TokenRequest(client_id=agent_application().client_id,
                                         mode="store"), actor=OPERATOR)
    ctx["canaries"].append(again.reveal())
    assert enroll(again.reveal(), key).status_code == 409
    body = json.dumps({"events": [{"event": "sign-in", "user": "canary", "outcome": "success",
                                   "password": canary}], "status": {"mode": "store"}}).encode()
    stamp, nonce, device_id = int(time.time()), signing.new_nonce(), enrolled.json()["device_id"]
    response = Client().post("/devices/events", body, content_type="application/json", headers={
        signing.DEVICE_HEADER: str(device_id),
        signing.TIME_HEADER: str(stamp), signing.NONCE_HEADER: nonce,
        signing.SIGNATURE_HEADER: signing.sign(key, "POST", "/devices/events", stamp, nonce,
                                               body, device_id=device_id)})
    seen.keep(response)
    assert response.json() == {"recorded": 1}, response.content


LDAP_DOORS = {ldap_console_bind_password, ldap_sign_in_and_writeback, ldap_console_test_sign_in}


DOORS: list[Door] = [
    api_create_user, api_set_password, api_rejected_payload, portal_sign_in,
    admin_add_user, admin_set_password, admin_refused_password, admin_people_import,
    scim_create_user, scim_patch_password, cli_set_password, cli_password_filter_check,
    cli_housekeeping,
    portal_change, portal_forced_change, portal_reset, portal_email_code,
    oidc_password_grant, portal_message, api_provisioning, device_enrolment_and_events,
    *sorted(LDAP_DOORS, key=lambda d: d.__name__),
]


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.__name__)
def test_password_leaks_nowhere(door: Door, exposure: Exposure, api, admin_user,
                                token_for, deliver, request,
                                django_capture_on_commit_callbacks) -> None:
    canary = new_canary()
    ctx = {"api": api, "admin": admin_user,
           "scim_headers": {"Authorization": f"Bearer {token_for('scim')}"}, "canaries": [],
           "deliver": deliver, "ldap": lambda: request.getfixturevalue("ldap_directory")}
    # The test runs inside a transaction that never commits: what production does on
    # commit (the audit log lines) runs here as each door's work ends, so its output is
    # searched too.
    with django_capture_on_commit_callbacks(execute=True):
        door(exposure, ctx, canary)
    assert exposure.places_holding(canary) == []
    for other in ctx["canaries"]:  # secrets a door met on the way (an emailed code)
        assert exposure.places_holding(other, mail_too=False) == [], "an emailed code leaked"


def test_scanner_finds_a_planted_canary(exposure: Exposure) -> None:
    """The search is real: a canary planted in each place is found there."""
    canary = new_canary()
    logging.getLogger("keystead.test").warning("oops %s", canary.replace("-", "_"))
    Event.objects.create(action="test.plant", detail={"note": canary})
    exposure.responses.append(canary.encode())
    mail.send_mail("Planted", f"body {canary}", None, ["x@example.com"])
    from django.contrib.sessions.backends.db import SessionStore

    planted = SessionStore()
    planted["note"] = canary
    planted.create()
    places = exposure.places_holding(canary)
    assert "HTTP response #0" in places
    assert "mail 'Planted'" in places
    assert f"session {planted.session_key[:6]}…" in places
    assert "audit event test.plant" in places
    assert "table directory_event" in places
    assert canary.replace("-", "_") in exposure.logs.getvalue()


def test_mail_in_the_outbox_is_unreadable_in_every_table(exposure: Exposure, deliver) -> None:
    """Queued mail holds reset links and sign-in codes: encrypted while it waits, erased
    once sent, never in a log line on the way."""
    from keystead.login import outbox

    canary = new_canary()
    outbox.enqueue("canary@example.com", "Your Keystead sign-in code", f"Your code: {canary}")
    assert list(tables_holding(canary)) == []
    assert [m.body for m in deliver()] == [f"Your code: {canary}"]
    assert exposure.places_holding(canary, mail_too=False) == []  # only in the mail sent
