"""One function per kind of short-lived row: what may go, and from when.

Each function takes the moment the run began and returns, per label, how many
rows it removed. The cut-offs follow what each row is for (docs/configuration.md,
"Housekeeping", lists them with the reasons):

- django-oauth-toolkit's rows by the toolkit's own rules but for ID tokens, which
  RP-initiated logout needs for longer (``oauth_tokens``);
- sessions and our own rows are removed with plain ORM deletes in short batches
  (``batches.delete_in_batches``), a row only once nothing reads it any more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import Exists, OuterRef, Q
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings

from keystead.devices.services import spent_nonces
from keystead.directory import audit
from keystead.directory.models import Event
from keystead.housekeeping.batches import delete_in_batches
from keystead.login import reset
from keystead.login.models import (
    EmailCode,
    OutgoingMail,
    RememberedBrowser,
    ResetToken,
    SignedInSession,
)
from keystead.providers.oidc.models import (
    FamilySignIn,
    IssuedCode,
    LogoutDelivery,
    SessionApplication,
)
from keystead.provisioning import config as provisioning_config
from keystead.provisioning.models import ArchivedOperation
from keystead.sources.saml import replay

#: How long a sign-in code, reset link or remembered browser is kept after it stopped
#: working: someone who comes back to a code or link later is told that it expired or was
#: used rather than that it is wrong (for a link, the audit event then names the person).
KEPT_AFTER_USE = timedelta(days=1)
#: How long a back-channel logout that was sent or given up on stays listed: long enough
#: to look into an application that says it was never told.
LOGOUT_DELIVERIES_KEPT = timedelta(days=7)


def sessions(now: datetime) -> dict[str, int]:
    """Expired browser sessions, with the ``SignedInSession`` rows that say whose they are.

    Plain batched deletes rather than the session engine's ``clear_expired``, which
    loads every expired session at once (the ORM must find their ``SignedInSession``
    rows) in one transaction: on a first run over months of sign-ins, millions of rows.
    The owner rows go first, so each count is exact. A session left idle past
    ``KEYSTEAD_SESSION_IDLE_MINUTES`` ends at its next request and goes at its expiry.
    """
    return {
        "signed-in sessions": delete_in_batches(
            SignedInSession.objects.filter(session__expire_date__lt=now)),
        "sessions": delete_in_batches(Session.objects.filter(expire_date__lt=now)),
    }


def oauth_tokens(now: datetime) -> dict[str, int]:
    """django-oauth-toolkit's rows, by the toolkit's own rules but one: ID tokens.

    The rules of the toolkit's ``clear_expired`` with Keystead's settings (rotation,
    reuse protection): a rotated (revoked) refresh token is kept
    ``REFRESH_TOKEN_EXPIRE_SECONDS`` after its revocation, so a replay of it within
    that time still revokes its family; an unrevoked one goes that long after its
    access token expired (an application that keeps refreshing keeps its family), or
    at once when its access token is gone; access tokens without a refresh token go
    once expired; authorization grants once expired.

    The exception, and the reason this is not the toolkit's function: RP-initiated
    logout accepts an ``id_token_hint`` only while its row exists, and an application
    that gets no refresh token sends the ID token of its sign-in, whose access token
    is gone ten minutes later. So an ID token without an access token is kept for the
    longest a browser session lasts (``SESSION_COOKIE_AGE``) past its expiry: a
    logout while the person may still be signed in always finds it.
    """
    RefreshToken = get_refresh_token_model()
    AccessToken = get_access_token_model()
    lifetime = refresh_token_expire_timedelta()
    refresh = Q(revoked__isnull=True, access_token__isnull=True)
    if lifetime:
        refresh |= (Q(revoked__lte=now - lifetime)
                    | Q(revoked__isnull=True, access_token__expires__lte=now - lifetime))
    session = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    # In this order: each removal frees rows for the next.
    return {
        "refresh tokens": delete_in_batches(RefreshToken.objects.filter(refresh)),
        "access tokens": delete_in_batches(AccessToken.objects.filter(
            refresh_token__isnull=True, expires__lt=now)),
        "ID tokens": delete_in_batches(get_id_token_model().objects.filter(
            access_token__isnull=True, expires__lt=now - session)),
        "OAuth grants": delete_in_batches(get_grant_model().objects.filter(expires__lt=now)),
    }


def family_sign_ins(now: datetime) -> dict[str, int]:
    """``FamilySignIn`` rows whose refresh-token family has no token left.

    Only a refresh of a token of the family reads the row, and a family without
    tokens never gets one again (the row and the family's first token are written in
    one transaction), so the row can never be read again.
    """
    family_token = get_refresh_token_model().objects.filter(token_family=OuterRef("token_family"))
    return {"token family sign-ins": delete_in_batches(
        FamilySignIn.objects.filter(~Exists(family_token)))}


def issued_codes(now: datetime) -> dict[str, int]:
    """``IssuedCode`` rows (what an authorization code bought, for replay detection).

    As its model says: once older than the longest refresh-token lifetime (an
    application's own lifetime can only be shorter). When refresh tokens never expire
    (``KEYSTEAD_OIDC_REFRESH_TOKEN_SECONDS=0``), once the code has expired and nothing
    it produced is left to revoke.
    """
    lifetime = refresh_token_expire_timedelta()
    if lifetime:
        old = Q(created__lt=now - lifetime)
    else:
        code_lifetime = timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS)
        old = (Q(created__lt=now - code_lifetime)
               & ~Exists(get_refresh_token_model().objects.filter(
                   token_family=OuterRef("token_family")))
               & ~Exists(get_access_token_model().objects.filter(
                   token_checksum=OuterRef("access_token_checksum"))))
    return {"issued-code records": delete_in_batches(IssuedCode.objects.filter(old))}


def session_applications(now: datetime) -> dict[str, int]:
    """Which applications got tokens in a browser session (back-channel logout's list),
    once nobody can be told about that session any more: the session itself is over
    (older than a session can last, ``KEYSTEAD_SESSION_MAX_HOURS``) and no refresh-token
    family started in it is left (its ``FamilySignIn``, removed with the family's last
    token). Until then, disabling the person or signing them out everywhere still
    tells those applications."""
    family = FamilySignIn.objects.filter(sid=OuterRef("sid"))
    return {"applications of browser sessions": delete_in_batches(
        SessionApplication.objects.filter(
            created__lt=now - timedelta(seconds=settings.SESSION_COOKIE_AGE))
        .exclude(Exists(family)))}


def logout_deliveries(now: datetime) -> dict[str, int]:
    """Back-channel logouts sent or given up on more than ``LOGOUT_DELIVERIES_KEPT`` ago.
    Their audit events stay; waiting ones and ones being sent are never touched."""
    cut_off = now - LOGOUT_DELIVERIES_KEPT
    Status = LogoutDelivery.Status
    return {"back-channel logouts": delete_in_batches(LogoutDelivery.objects.filter(
        Q(status=Status.SENT, sent_at__lt=cut_off)
        | Q(status=Status.FAILED, last_attempt_at__lt=cut_off)))}


def email_sign_in_codes(now: datetime) -> dict[str, int]:
    """Emailed sign-in codes a day past their expiry (used or not)."""
    return {"email sign-in codes": delete_in_batches(
        EmailCode.objects.filter(expires_at__lt=now - KEPT_AFTER_USE))}


def reset_links(now: datetime) -> dict[str, int]:
    """Password-reset links a day past their 30 minutes (used or not). The one-mail-a-
    minute limit reads only the newest row, which by then is long past that minute."""
    return {"password-reset links": delete_in_batches(
        ResetToken.objects.filter(created_at__lt=now - reset.VALID_FOR - KEPT_AFTER_USE))}


def remembered_browsers(now: datetime) -> dict[str, int]:
    """Remembered browsers a day after they expired or were revoked. Nothing shows them
    after that (the portal and the console list live ones); the audit log keeps their
    grant and revocation."""
    cut_off = now - KEPT_AFTER_USE
    return {"remembered browsers": delete_in_batches(RememberedBrowser.objects.filter(
        Q(expires_at__lt=cut_off) | Q(revoked_at__lt=cut_off)))}


def outgoing_mail(now: datetime) -> dict[str, int]:
    """Outbox mail sent or given up on more than ``KEYSTEAD_MAIL_RETENTION_DAYS`` ago (its
    text was erased then; recipient, subject and the last error stay readable until now).
    Queued mail and mail being sent is never touched."""
    days = settings.MAIL_RETENTION_DAYS
    if not days:
        return {"outgoing mail": 0}
    cut_off = now - timedelta(days=days)
    Status = OutgoingMail.Status
    return {"outgoing mail": delete_in_batches(OutgoingMail.objects.filter(
        Q(status=Status.SENT, sent_at__lt=cut_off)
        | Q(status=Status.FAILED, last_attempt_at__lt=cut_off)))}


def used_assertions(now: datetime) -> dict[str, int]:
    """SAML assertion ids past the assertion's own expiry: it could not be accepted again
    anyway. (Each SAML sign-in also prunes them; this covers a source that went quiet.)"""
    return {"used SAML assertions": delete_in_batches(replay.spent(now))}


def device_nonces(now: datetime) -> dict[str, int]:
    """Signed-request nonces older than twice the allowed clock skew: a request with that
    nonce would be refused for its time anyway. (Each request of a computer prunes its own;
    this covers computers that stopped calling.)"""
    return {"device nonces": delete_in_batches(spent_nonces(now))}


def audit_events(now: datetime) -> dict[str, int]:
    """Audit events older than ``KEYSTEAD_AUDIT_RETENTION_DAYS``; by default (0) none: they
    are the evidence of who did what, kept until an operator decides otherwise."""
    days = settings.AUDIT_RETENTION_DAYS
    if not days:
        return {"audit events": 0}
    removed = delete_in_batches(Event.objects.filter(created_at__lt=now - timedelta(days=days)))
    if removed:
        # Removing evidence leaves evidence: how much went, and by which rule.
        audit.record("housekeeping.audit_events_removed", actor_label="housekeeping",
                     detail={"removed": removed, "older_than_days": days})
    return {"audit events": removed}


def archived_operations(now: datetime) -> dict[str, int]:
    """Provisioning operations that ended (executed or cancelled) more than
    ``KEYSTEAD_PROVISIONING_ARCHIVE_DAYS`` ago (0: never): the archive keeps what was
    sent where for as long as the operator chose, and grows with every operation after
    that."""
    days = provisioning_config.archive_days()
    if not days:
        return {"archived provisioning operations": 0}
    return {"archived provisioning operations": delete_in_batches(
        ArchivedOperation.objects.filter(ended_at__lt=now - timedelta(days=days)))}


#: In this order: OAuth tokens before families and code records, so those whose tokens
#: went go in the same run.
ALL = (sessions, oauth_tokens, family_sign_ins, issued_codes, session_applications,
       logout_deliveries, email_sign_in_codes,
       reset_links, remembered_browsers, outgoing_mail, used_assertions, device_nonces,
       archived_operations, audit_events)
