"""Each kind of row: one past its cut-off is removed, a live one beside it stays.

Real PostgreSQL (or SQLite in the smoke run); time moves with time_machine, so the
rows are written by the same code and clocks as in production.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from keystead import housekeeping
from keystead.config import ConfigError
from keystead.devices.models import Device, SeenNonce
from keystead.directory import audit
from keystead.directory.models import Event, User
from keystead.housekeeping import batches
from keystead.login import email_codes, remembered, reset
from keystead.login.models import (
    EmailCode,
    OutgoingMail,
    RememberedBrowser,
    ResetToken,
    SignedInSession,
)
from keystead.providers.oidc.models import FamilySignIn, LogoutDelivery, SessionApplication
from keystead.provisioning import queue
from keystead.provisioning.models import ArchivedOperation, ConnectorType, Kind, System
from keystead.sources.saml import replay
from keystead.sources.saml.models import UsedAssertion

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="x" * 20)


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob@example.com", "Bob", "Babbage", password="y" * 20)


def counts(dry_run: bool = False) -> dict[str, int]:
    return {p.kind: p.count for p in housekeeping.run(dry_run=dry_run)}


@pytest.mark.smoke  # also on SQLite
def test_expired_sessions_go_with_their_signed_in_rows(ada, bob):
    old, live = Client(), Client()
    old.force_login(ada)
    with time_machine.travel(timezone.now() + timedelta(hours=13)):
        live.force_login(bob)
        assert SignedInSession.objects.count() == 2
        found = counts()
        assert (found["sessions"], found["signed-in sessions"]) == (1, 1)
        assert list(SignedInSession.objects.values_list("user__email", flat=True)) == [
            "bob@example.com"]
        assert Session.objects.count() == 1
        assert b"bob@example.com" in live.get("/").content  # the live session still works


def test_a_backlog_larger_than_a_batch_all_goes(ada):
    """More expired sessions than one batch (a first run): all go, with their owners' rows."""
    past = timezone.now() - timedelta(days=1)
    keys = [f"expired{n:032d}" for n in range(batches.BATCH + 5)]
    Session.objects.bulk_create(Session(session_key=key, session_data="", expire_date=past)
                                for key in keys)
    SignedInSession.objects.bulk_create(SignedInSession(session_id=key, user=ada)
                                        for key in keys)
    live = Client()
    live.force_login(ada)
    found = counts()
    assert (found["sessions"], found["signed-in sessions"]) == (len(keys), len(keys))
    assert Session.objects.count() == SignedInSession.objects.count() == 1


def test_email_codes_go_a_day_after_they_expired(ada, bob):
    email_codes.send_code(ada)
    with time_machine.travel(timezone.now() + email_codes.VALID_FOR + timedelta(days=1, minutes=1)):
        email_codes.send_code(bob)
        assert counts()["email sign-in codes"] == 1
        assert list(EmailCode.objects.values_list("user__email", flat=True)) == [
            "bob@example.com"]


def test_many_rows_go_in_batches():
    now = timezone.now()
    UsedAssertion.objects.bulk_create(
        UsedAssertion(assertion_id=f"id-{n}", expires_at=now - timedelta(minutes=1))
        for n in range(2 * batches.BATCH + 7))
    UsedAssertion.objects.create(assertion_id="live", expires_at=now + timedelta(hours=1))
    assert batches.delete_in_batches(UsedAssertion.objects.filter(expires_at__lt=now)) \
        == 2 * batches.BATCH + 7
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["live"]


def test_reset_links_go_a_day_after_their_half_hour(ada, bob):
    reset.issue_link(ada, "a" * 64, None)
    with time_machine.travel(timezone.now() + reset.VALID_FOR + timedelta(days=1, minutes=1)):
        reset.issue_link(bob, "b" * 64, None)
        assert counts()["password-reset links"] == 1
        assert list(ResetToken.objects.values_list("token_hash", flat=True)) == ["b" * 64]


def test_remembered_browsers_go_a_day_after_expiry_or_revocation(ada):
    now = timezone.now()

    def browser(token: str, **fields) -> RememberedBrowser:
        return RememberedBrowser.objects.create(
            user=ada, token_hash=remembered.hash_token(token), days=30,
            **{"expires_at": now + timedelta(days=30), **fields})

    expired = browser("expired", expires_at=now - timedelta(days=2))
    revoked = browser("revoked", revoked_at=now - timedelta(days=2))
    just_revoked = browser("just", revoked_at=now - timedelta(hours=1))
    live = browser("live")
    assert counts()["remembered browsers"] == 2
    left = set(RememberedBrowser.objects.values_list("pk", flat=True))
    assert left == {just_revoked.pk, live.pk}
    assert not {expired.pk, revoked.pk} & left


def test_outbox_mail_goes_after_the_retention_days(ada, settings):
    settings.MAIL_RETENTION_DAYS = 30
    now = timezone.now()
    Status = OutgoingMail.Status

    def mail(subject: str, **fields) -> OutgoingMail:
        return OutgoingMail.objects.create(recipient="ada@example.com", subject=subject, **fields)

    mail("old sent", status=Status.SENT, sent_at=now - timedelta(days=31))
    mail("old failed", status=Status.FAILED, last_attempt_at=now - timedelta(days=31))
    mail("recent sent", status=Status.SENT, sent_at=now - timedelta(days=29))
    mail("recent failed", status=Status.FAILED, last_attempt_at=now - timedelta(days=1))
    mail("old but queued", created_at=now - timedelta(days=90),
         next_attempt_at=now - timedelta(days=90))
    assert counts()["outgoing mail"] == 2
    assert set(OutgoingMail.objects.values_list("subject", flat=True)) == {
        "recent sent", "recent failed", "old but queued"}
    settings.MAIL_RETENTION_DAYS = 0  # keep forever
    with time_machine.travel(now + timedelta(days=400)):
        assert counts()["outgoing mail"] == 0
    assert OutgoingMail.objects.count() == 3


def test_used_saml_assertions_go_once_expired():
    now = timezone.now()
    assert replay.use_once("old", "https://idp.example", now + timedelta(minutes=5))
    assert replay.use_once("live", "https://idp.example", now + timedelta(hours=2))
    with time_machine.travel(now + timedelta(hours=1)):
        assert counts()["used SAML assertions"] == 1
    assert list(UsedAssertion.objects.values_list("assertion_id", flat=True)) == ["live"]


def test_device_nonces_go_after_twice_the_skew():
    app = get_application_model().objects.create(
        name="agent", client_type="confidential", authorization_grant_type="password")
    device = Device.objects.create(application=app, name="pc-1", public_key="-")
    now = timezone.now()
    SeenNonce.objects.create(device=device, nonce="old", seen_at=now - timedelta(hours=1))
    SeenNonce.objects.create(device=device, nonce="live", seen_at=now)
    assert counts()["device nonces"] == 1
    assert list(SeenNonce.objects.values_list("nonce", flat=True)) == ["live"]


def test_audit_events_are_kept_forever_unless_a_retention_is_set(ada, settings):
    audit.record("test.old", target=ada)
    with time_machine.travel(timezone.now() + timedelta(days=400)):
        audit.record("test.live", target=ada)
        assert settings.AUDIT_RETENTION_DAYS == 0  # the default
        assert counts()["audit events"] == 0
        assert Event.objects.filter(action="test.old").exists()
        settings.AUDIT_RETENTION_DAYS = 365
        assert counts()["audit events"] == 1
        assert not Event.objects.filter(action="test.old").exists()
        assert Event.objects.filter(action="test.live").exists()
        removal = Event.objects.get(action="housekeeping.audit_events_removed")
        assert removal.detail == {"removed": 1, "older_than_days": 365}
        assert counts()["audit events"] == 0  # nothing more: no second removal event
        assert Event.objects.filter(action="housekeeping.audit_events_removed").count() == 1


def archive(system: System, name: str) -> None:
    """An operation on ``system`` for ``name``, executed and so archived now."""
    operation = queue.enqueue(system, name, Kind.CREATE)
    queue.claim("w", 1)
    queue.finish("w", [operation.id])


def test_archived_provisioning_operations_go_after_the_archive_days(monkeypatch):
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", "7")
    system = System.objects.create(name="target", connector=ConnectorType.SQL)
    archive(system, "old")
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        archive(system, "recent")
        assert counts(dry_run=True)["archived provisioning operations"] == 0
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert counts(dry_run=True)["archived provisioning operations"] == 1
        assert ArchivedOperation.objects.count() == 2  # a dry run removes nothing
        assert counts()["archived provisioning operations"] == 1
    assert list(ArchivedOperation.objects.values_list("account_name", flat=True)) == [
        "recent"]


def test_archive_days_zero_keeps_the_archive_forever(monkeypatch):
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", "0")
    archive(System.objects.create(name="target", connector=ConnectorType.SQL), "old")
    with time_machine.travel(timezone.now() + timedelta(days=3650)):
        assert counts()["archived provisioning operations"] == 0
    assert ArchivedOperation.objects.count() == 1
    monkeypatch.setenv("KEYSTEAD_PROVISIONING_ARCHIVE_DAYS", "-1")
    with pytest.raises(ConfigError, match="or 0 to keep them forever"):
        counts(dry_run=True)


def test_back_channel_logout_rows_go_once_nobody_can_be_told(ada):
    app = get_application_model().objects.create(
        name="wiki", client_type="confidential", authorization_grant_type="authorization-code")
    now = timezone.now()
    with time_machine.travel(now - timedelta(hours=13)):  # longer ago than a session lasts
        over = SessionApplication.objects.create(sid="over", user=ada, application=app,
                                                 issuer="https://id.example")
        kept = SessionApplication.objects.create(sid="family", user=ada, application=app,
                                                 issuer="https://id.example")
    family = uuid.uuid4()  # a refresh-token family started in that session, still alive
    FamilySignIn.objects.create(token_family=family, sid="family")
    access = get_access_token_model().objects.create(
        user=ada, application=app, token="a-family", expires=now + timedelta(minutes=10))
    get_refresh_token_model().objects.create(user=ada, application=app, token="r-family",
                                             access_token=access, token_family=family)
    SessionApplication.objects.create(sid="live", user=ada, application=app,
                                      issuer="https://id.example")
    Status = LogoutDelivery.Status

    def delivery(sid: str, **fields) -> LogoutDelivery:
        return LogoutDelivery.objects.create(application=app, user=ada, subject=str(ada.pk),
                                             issuer="https://id.example", sid=sid, **fields)

    delivery("old sent", status=Status.SENT, sent_at=now - timedelta(days=8))
    delivery("old failed", status=Status.FAILED, last_attempt_at=now - timedelta(days=8))
    delivery("recent sent", status=Status.SENT, sent_at=now - timedelta(days=6))
    delivery("waiting", next_attempt_at=now - timedelta(days=30))
    removed = counts()
    assert removed["applications of browser sessions"] == 1
    assert removed["back-channel logouts"] == 2
    assert set(SessionApplication.objects.values_list("sid", flat=True)) == {"family", "live"}
    assert not SessionApplication.objects.filter(pk=over.pk).exists() and kept.pk
    assert set(LogoutDelivery.objects.values_list("sid", flat=True)) == {"recent sent",
                                                                          "waiting"}
