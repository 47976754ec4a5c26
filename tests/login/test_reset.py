"""Password reset by emailed link, through the pages, with Django's test client.

Mail is queued in the outbox and delivered by ``deliver()`` (tests/conftest.py)
to Django's in-memory outbox here; tests/e2e/test_portal_reset.py does the same
through a real SMTP server and a real browser.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from keystead.directory import services
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login import reset
from keystead.login.models import ResetToken
from keystead.logs import HumanFormatter, JsonFormatter, RedactSecretsFilter
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

OLD = "Vellum-Orchid-Tapestry-42"
NEW = "Quartz-Heron-Lantern-97"
LINK = re.compile(r"(https?://\S+/reset/([A-Za-z0-9_-]+))")


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=OLD)


def ask(client: Client | None = None, email: str = "ada@example.com"):
    return (client or Client()).post("/reset", {"email": email})


def token_in(message) -> str:
    return LINK.search(message.body).group(2)


def path_of(message) -> str:
    return "/reset/" + token_in(message)


def use_link(token: str, password: str = NEW, client: Client | None = None):
    """Open the mailed link and submit a new password; returns (client, final response)."""
    client = client or Client()
    opened = client.get(f"/reset/{token}")
    if opened.status_code != 302:
        return client, opened
    assert opened["Location"] == "/reset/new-password"
    return client, client.post("/reset/new-password",
                               {"new_password": password, "confirm_password": password})


def test_reset_address_answers_without_redirect_and_sign_in_links_to_it(db):
    assert Client().get("/reset").status_code == 200
    assert Client().get("/reset/").status_code == 200
    page = Client().get("/login/").content.decode()
    assert 'href="/reset"' in page and "Forgot your password?" in page


def test_request_mails_a_link_and_stores_only_its_hash(ada, settings, deliver):
    settings.BASE_URL = "https://id.example.com"
    response = ask()
    assert response.status_code == 200
    assert reset.ANSWER in response.content.decode()
    sent = deliver()
    assert len(sent) == 1
    message = sent[0]
    assert message.to == ["ada@example.com"]
    assert "30 minutes" in message.body
    link, token = LINK.search(message.body).groups()
    assert link == f"https://id.example.com/reset/{token}"
    assert len(token) >= 43  # 32 random bytes, base64url
    row = ResetToken.objects.get(user=ada)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.requested_ip == "127.0.0.1" and row.used_at is None
    assert token not in repr(ResetToken.objects.values().get())


def test_link_sets_the_password_once_and_signs_nobody_in(ada, deliver):
    User.objects.filter(pk=ada.pk).update(must_change_password=True)
    ask()
    token = token_in(deliver()[0])
    client, done = use_link(token)
    assert done.status_code == 302 and done["Location"] == "/login/"
    ada.refresh_from_db()
    assert ada.check_password(NEW) and not ada.must_change_password
    assert ResetToken.objects.get(user=ada).used_at is not None
    assert "_auth_user_id" not in client.session
    assert client.get("/")["Location"].startswith("/login/")
    signed = client.post("/login/", {"username": "ada@example.com", "password": NEW})
    assert signed.status_code == 302 and signed["Location"] == "/"
    event = Event.objects.get(action="user.password.reset", outcome="success")
    assert event.target_id == str(ada.pk) and event.detail["door"] == "portal"
    assert event.actor_label == "ada@example.com (reset link)"

    _, again = use_link(token, "Another-Granite-Meadow-55")
    assert again.status_code == 200
    assert "expired or was already used" in again.content.decode()
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    denied = Event.objects.get(action="user.password.reset", outcome="denied")
    assert denied.detail["reason"] == "link already used"
    assert denied.target_id == str(ada.pk)


def test_link_expires_after_30_minutes(ada, deliver):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ask()
    token = token_in(deliver()[0])
    with time_machine.travel(start + timedelta(minutes=29, seconds=59), tick=False):
        assert Client().get(f"/reset/{token}").status_code == 302
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        _, gone = use_link(token)
    assert gone.status_code == 200 and b"expired or was already used" in gone.content
    assert b'href="/reset"' in gone.content
    ada.refresh_from_db()
    assert ada.check_password(OLD)
    assert Event.objects.filter(action="user.password.reset", outcome="denied",
                                detail__reason="link expired").exists()


def test_link_opened_in_time_but_submitted_late_is_refused(ada, deliver):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ask()
        client = Client()
        assert client.get(path_of(deliver()[0])).status_code == 302
    with time_machine.travel(start + timedelta(minutes=31), tick=False):
        late = client.post("/reset/new-password", {"new_password": NEW, "confirm_password": NEW})
    assert late.status_code == 200 and b"expired or was already used" in late.content
    ada.refresh_from_db()
    assert ada.check_password(OLD)


def test_a_newer_link_invalidates_the_older_and_mail_is_limited_to_one_a_minute(ada, deliver):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = ask()
        second = ask()  # within the minute: same answer, no mail
    assert first.content == second.content
    assert len(deliver()) == 1
    limited = Event.objects.get(action="user.password.reset.request", outcome="denied")
    assert "less than a minute" in limited.detail["reason"]
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        ask()
        assert len(deliver()) == 2  # queued at the moved clock's "now": due there
    older, newer = token_in(deliver()[0]), token_in(deliver()[1])
    assert older != newer
    assert ResetToken.objects.filter(user=ada).count() == 1
    _, gone = use_link(older)
    assert b"expired or was already used" in gone.content
    assert Event.objects.filter(action="user.password.reset", outcome="denied",
                                detail__reason="unknown or replaced link").exists()
    _, done = use_link(newer)
    assert done["Location"] == "/login/"


def test_unknown_and_disabled_addresses_get_the_same_answer_and_no_mail(ada, deliver):
    User.objects.create_user("off@example.com", "Off", "Line", password=OLD, is_active=False)
    known = ask(email="ada@example.com")
    unknown = ask(email="Nobody@Example.com")
    disabled = ask(email="off@example.com")
    assert known.status_code == unknown.status_code == disabled.status_code == 200
    assert known.content == unknown.content == disabled.content
    assert sorted(known.headers) == sorted(unknown.headers)
    assert [m.to for m in deliver()] == [["ada@example.com"]]
    assert ResetToken.objects.count() == 1
    failures = {e.detail["email"]: (e.detail["reason"], e.target_id) for e in
                Event.objects.filter(action="user.password.reset.request", outcome="failure")}
    off = User.objects.get(email="off@example.com")
    assert failures == {"nobody@example.com": ("unknown user", ""),
                        "off@example.com": ("account disabled", str(off.pk))}
    sent = Event.objects.get(action="user.password.reset.request", outcome="success")
    assert sent.target_id == str(ada.pk) and sent.actor_label == "anonymous"


def test_a_user_name_asks_for_a_link_to_the_email(ada, deliver):
    """The form takes a user name as well as an email; the link goes to the email."""
    User.objects.filter(pk=ada.pk).update(username="E12345")
    response = ask(email="e12345")
    assert response.status_code == 200 and reset.ANSWER in response.content.decode()
    assert [m.to for m in deliver()] == [["ada@example.com"]]


def test_a_name_nobody_has_gets_the_same_answer_and_is_not_recorded(ada, deliver):
    response = ask(email="Vellum-Orchid-Tapestry-42")
    assert response.status_code == 200 and reset.ANSWER in response.content.decode()
    assert not deliver()
    event = Event.objects.get(action=reset.REQUEST_ACTION)
    assert event.detail["email"] == "(not a known name, 25 characters)"


def test_a_disabled_account_cannot_use_a_link_mailed_before(ada, deliver):
    ask()
    User.objects.filter(pk=ada.pk).update(is_active=False)
    _, gone = use_link(token_in(deliver()[0]))
    assert b"expired or was already used" in gone.content
    assert Event.objects.filter(action="user.password.reset", detail__reason="account disabled")


@pytest.mark.parametrize("change", ["password set by an administrator", "email changed"])
def test_a_new_password_or_email_ends_links_mailed_before(ada, change, deliver):
    ask()
    if change == "email changed":
        services.update_user(ada, {"email": "countess@example.com"}, actor=OPERATOR)
    else:
        services.set_password(ada, Secret("Another-Long-Passphrase-77"), actor=OPERATOR)
    _, gone = use_link(token_in(deliver()[0]))
    assert b"expired or was already used" in gone.content
    ada.refresh_from_db()
    assert not ada.check_password(NEW)


def test_every_failing_rule_is_shown_and_the_link_stays_usable(ada, deliver):
    LogonPolicy.objects.update_or_create(pk=1, defaults={
        "min_length": 16, "min_digits": 2, "min_uppercase": 1, "min_symbols": 1})
    ask()
    client, refused = use_link(token_in(deliver()[0]), "abcdefgh")
    assert refused.status_code == 200
    page = refused.content.decode()
    for message in ("at least 16 characters", "at least 2 of: number", "an uppercase letter",
                    "a symbol"):
        assert message in page
    ada.refresh_from_db()
    assert ada.check_password(OLD)
    assert ResetToken.objects.get(user=ada).used_at is None
    done = client.post("/reset/new-password",
                       {"new_password": "Lantern-Quartz-88-Heron", "confirm_password":
                        "Lantern-Quartz-88-Heron"})
    assert done["Location"] == "/login/"


def test_mismatched_passwords_are_named(ada, deliver):
    ask()
    client = Client()
    client.get(path_of(deliver()[0]))
    response = client.post("/reset/new-password", {"new_password": NEW, "confirm_password": OLD})
    assert b"The two passwords are not the same." in response.content


def test_reset_ends_every_session_of_the_user(ada, deliver):
    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.post("/login/", {"username": "ada@example.com", "password": OLD})
        assert device.get("/").status_code == 200
    ask()
    use_link(token_in(deliver()[0]))
    for device in (laptop, phone):
        assert device.get("/")["Location"].startswith("/login/")


def test_reset_sends_password_changed(ada, deliver):
    from keystead.directory.signals import password_changed

    seen = []

    def listener(sender, user, **kwargs):
        seen.append(user.pk)

    password_changed.connect(listener)
    try:
        ask()
        use_link(token_in(deliver()[0]))
    finally:
        password_changed.disconnect(listener)
    assert seen == [ada.pk]


def test_reset_does_not_unlock_a_locked_account(ada, deliver):
    until = timezone.now() + timedelta(minutes=10)
    User.objects.filter(pk=ada.pk).update(locked_at=timezone.now(), locked_until=until,
                                          failed_logins=5)
    ask()
    client, done = use_link(token_in(deliver()[0]))
    assert done["Location"] == "/login/"
    ada.refresh_from_db()
    assert ada.check_password(NEW) and ada.is_locked()
    page = client.get("/login/").content.decode()
    assert "still locked" in page and "unlocks by itself" in page
    refused = client.post("/login/", {"username": "ada@example.com", "password": NEW})
    assert refused.status_code == 200  # the same generic failure as any other


def test_nothing_on_the_way_leaks_the_token(ada, deliver):
    """The token is in the mail only: not in logs, audit events, tables or error paths."""
    captured = io.StringIO()
    handlers = []
    for formatter in (HumanFormatter("%(levelname)s %(name)s %(message)s"), JsonFormatter()):
        handler = logging.StreamHandler(captured)
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecretsFilter())
        handlers.append(handler)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    try:
        ask()
        token = token_in(deliver()[0])
        strict = Client(enforce_csrf_checks=True)
        odd_paths = [f"/reset/{token}/", f"/reset/{token}/extra", f"/reset/{token}?x=1"]
        for path in odd_paths:
            assert strict.get(path).status_code < 400, path
        assert strict.post(f"/reset/{token}", {"x": "y"}).status_code < 400
        assert strict.head(f"/reset/{token}").status_code < 400
        assert strict.post("/reset/new-password", {"new_password": NEW}).status_code == 403
        _, done = use_link(token)
        assert done.status_code == 302
        _, again = use_link(token)  # a used link: denied, audited
        assert again.status_code == 200
        logging.getLogger("keystead.test").info("probe reached the handlers")
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(old_level)
    logs = captured.getvalue()
    assert "probe reached the handlers" in logs  # the capture works
    assert "Forbidden (CSRF" in logs  # Django did log the refused POST, without the token
    assert token not in logs
    for event in Event.objects.all():
        assert token not in repr(event.__dict__), event.action
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            assert not any(token in repr(row) for row in cursor.fetchall()), table


def test_token_pages_are_not_cached_and_send_no_referer(ada, deliver):
    ask()
    opened = Client().get(path_of(deliver()[0]))
    gone = Client().get("/reset/not-a-real-token")
    for response in (opened, gone):
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
