"""SAML sign-in: starting it, finishing it, and what the source's status page shows.

Every refusal raises or returns "Invalid ticket" to the person and keeps the
precise reason for administrators: a ``saml.sign_in`` FAILURE event in the
audit log and the source's ``last_error``. A success hands the person to the
same step every password sign-in ends with (``second_step.after_password``):
a second factor when one is required, else the session. A forced password
change does not apply: the IdP owns the federated person's password.
"""

from __future__ import annotations

import datetime

from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from keystead import metadata_download
from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login import lockout, second_step
from keystead.sources.saml import idp_metadata, people, replay, sp
from keystead.sources.saml.models import SamlSource

REQUEST_COOKIE = "keystead_saml_request"
REQUEST_SALT = "keystead.sources.saml.request"
REQUEST_MAX_AGE = 600


class NoSource(Exception):
    """No SAML identity provider is enabled."""


#: After a refresh attempt (finished, failed or still waiting for the IdP) the next
#: one waits this long, so a slow or broken metadata URL holds up one sign-in per
#: interval instead of every sign-in.
RETRY_AFTER = datetime.timedelta(minutes=5)


def refresh_due(source: SamlSource, now: datetime.datetime) -> bool:
    """Whether the metadata URL should be read again: the refresh period has passed since
    the last good read, and no attempt was made within ``RETRY_AFTER``."""
    if not source.metadata_url:
        return False
    fetched, checked = source.metadata_fetched_at, source.metadata_checked_at
    period = datetime.timedelta(hours=max(source.metadata_refresh_hours, 1))
    if fetched is not None and now - fetched < period:
        return False
    return checked is None or now - checked >= RETRY_AFTER


def claim_refresh(source: SamlSource, now: datetime.datetime) -> bool:
    """Whether this request is the one to read the metadata URL.

    A conditional UPDATE moves ``metadata_checked_at`` from the value this request
    read to ``now``; of several requests (in any process) that read the same value,
    the database lets exactly one UPDATE match. Call it outside a transaction, so the
    claim is visible to the others at once."""
    claimed = SamlSource.objects.filter(
        pk=source.pk, metadata_checked_at=source.metadata_checked_at,
    ).update(metadata_checked_at=now)
    if claimed:
        source.metadata_checked_at = now
    return claimed == 1


def refresh_metadata(source: SamlSource, *, force: bool = False) -> None:
    """Read the metadata URL again when it is due (or ``force``), updating entity id, SSO
    address and certificates. A failed read keeps the previous values and is reported
    on the status page.

    When a refresh is due, only the request that claims it (``claim_refresh``) reads
    the URL; the others go on with the metadata they have. A source whose URL was
    never read has nothing else to go on, so that request reads it regardless."""
    from keystead.sources.saml.configuration import apply_metadata

    if not source.metadata_url:
        return
    now = timezone.now()
    if force or source.metadata_fetched_at is None:
        SamlSource.objects.filter(pk=source.pk).update(metadata_checked_at=now)
        source.metadata_checked_at = now
    elif not (refresh_due(source, now) and claim_refresh(source, now)):
        return
    try:
        xml = metadata_download.fetch(source.metadata_url)
        apply_metadata(source, idp_metadata.read(xml), xml)
    except idp_metadata.MetadataProblem as problem:
        _note_failure(source, f"metadata refresh failed: {problem}")
        return
    source.metadata_fetched_at = timezone.now()
    # Only if the URL is still the one read: a console change meanwhile wins.
    written = SamlSource.objects.filter(pk=source.pk, metadata_url=source.metadata_url).update(
        metadata_xml=source.metadata_xml, idp_entity_id=source.idp_entity_id,
        sso_url=source.sso_url, sso_binding=source.sso_binding,
        certificate=source.certificate, metadata_fetched_at=source.metadata_fetched_at)
    if not written:
        return
    audit.record("saml_source.metadata_refresh", target=source,
                 detail={"url": source.metadata_url, "entity_id": source.idp_entity_id})


def start(request: HttpRequest, next_url: str) -> tuple[sp.Outgoing, str]:
    """A signed AuthnRequest for the enabled IdP, and the cookie value that ties the answer
    to this browser (its id and where to go afterwards)."""
    source = SamlSource.active()
    if source is None:
        raise NoSource
    refresh_metadata(source)
    outgoing = sp.authn_request(source, relay_state="")
    cookie = signing.dumps({"id": outgoing.request_id, "next": next_url}, salt=REQUEST_SALT)
    audit.record("saml.sign_in.start", request=request, actor_label="anonymous",
                 target=source, detail={"request_id": outgoing.request_id})
    return outgoing, cookie


def _outstanding(cookie: str | None) -> dict[str, str]:
    if not cookie:
        return {}
    try:
        data = signing.loads(cookie, salt=REQUEST_SALT, max_age=REQUEST_MAX_AGE)
    except signing.BadSignature:
        return {}
    return {str(data["id"]): str(data.get("next") or "")}


def _note_failure(source: SamlSource, reason: str) -> None:
    SamlSource.objects.filter(pk=source.pk).update(last_error=reason[:2000],
                                                   last_error_at=timezone.now())


def _refuse(request: HttpRequest, source: SamlSource | None, reason: str, user=None) -> None:
    audit.record("saml.sign_in", request=request, outcome=Outcome.FAILURE,
                 actor_label="anonymous", target=user if user is not None else source,
                 detail={"reason": reason, "source": source.name if source else ""})
    if source is not None:
        _note_failure(source, reason)


def finish(request: HttpRequest, encoded: str, cookie: str | None,
           default_next: str) -> HttpResponse | None:
    """Verify the POSTed response and continue the sign-in; None means "Invalid ticket"
    (the reason is already in the audit log and on the status page)."""
    source = SamlSource.active()
    if source is None:
        _refuse(request, None, "no SAML identity provider is enabled")
        return None
    user = None
    try:
        verified = sp.verify(source, encoded, _outstanding(cookie))
        if not replay.use_once(verified.assertion_id, verified.issuer, verified.expires_at):
            raise sp.InvalidTicket(f"replayed: assertion {verified.assertion_id} was "
                                   "already used")
        value = people.identifier(source, verified)
        with transaction.atomic():
            user = people.find(source, value)
            if user is None:
                if not source.create_people:
                    raise sp.InvalidTicket(f"no Keystead person matches {value!r} under the "
                                           f"user key {source.user_key}, and creating people "
                                           "on first sign-in is off")
                user = people.create(source, verified, value, request=request)
        now = timezone.now()
        lockout.release_if_expired(user, now)
        refusal = lockout.sign_in_refusal(user, now)
        if refusal is not None:
            raise sp.InvalidTicket(f"{user.email} cannot sign in now: {refusal}")
    except sp.InvalidTicket as refused:
        _refuse(request, source, refused.reason, user)
        return None
    audit.record("saml.sign_in", request=request, actor=user, target=user,
                 detail={"source": source.name, "user_key": source.user_key,
                         "assertion_id": verified.assertion_id})
    SamlSource.objects.filter(pk=source.pk).update(last_success_at=timezone.now())
    next_url = verified.next_url or default_next
    return second_step.after_password(request, user, next_url)
