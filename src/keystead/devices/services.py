"""Enrolment tokens, enrolment, signed agent requests and agent events: authorized,
validated and audited in one place, whichever door (console, CLI, HTTP) calls them."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_application_model

from keystead.columns import too_long_for
from keystead.devices import rules
from keystead.devices.models import (
    DO_NOT_STORE,
    MODES,
    Device,
    EnrollmentToken,
    SeenNonce,
)
from keystead.directory import audit
from keystead.directory.authorization import Actor, require_permission
from keystead.directory.models import Event, Outcome, User
from keystead.providers.oidc.grants import application_allows
from keystead.secret import Secret
from keystead.web_address import is_web_address
from keystead_agent import signing

ADD_TOKEN = "devices.add_enrollmenttoken"


class EnrollmentRefused(ValueError):
    """Bad input; ``problems`` maps each field to a message saying how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


class KeyInUse(EnrollmentRefused):
    """The public key is already another computer's. Keystead finds a computer by its key's
    signature, so each computer must have a key of its own (an HTTP 409)."""


class NotSigned(PermissionError):
    """An agent request without a valid device signature (unknown device, bad or old one)."""


@dataclass(frozen=True)
class TokenRequest:
    client_id: str
    mode: str = DO_NOT_STORE
    check_seconds: int = 300
    hours: int = 24
    reset_url: str = ""
    login_name: str = "local"
    email_domain: str = ""
    label: str = ""


def _problems(wanted: TokenRequest):
    problems: dict[str, str] = {}
    application = get_application_model().objects.filter(client_id=wanted.client_id).first()
    if application is None:
        problems["client_id"] = (f"No application has the client id {wanted.client_id!r}: "
                                 "give the client id of an OpenID Connect application.")
    elif not application_allows(application, "password"):
        problems["client_id"] = (f"The application {application.name!r} is not allowed the "
                                 "password grant: tick it in the application's token settings.")
    if wanted.mode not in dict(MODES):
        problems["mode"] = f"Mode must be one of: {', '.join(dict(MODES))}."
    if not 30 <= wanted.check_seconds <= 86400:
        problems["check_seconds"] = "The check interval must be between 30 and 86400 seconds."
    if not 1 <= wanted.hours <= 24 * 30:
        problems["hours"] = "A token lives between 1 hour and 30 days (720 hours)."
    if wanted.login_name not in ("local", "email"):
        problems["login_name"] = "Login name mapping must be 'local' or 'email'."
    elif wanted.login_name == "email" and not wanted.email_domain.strip():
        problems["email_domain"] = "With the 'email' mapping, give the email domain."
    problems.update(_too_long(wanted))
    if wanted.reset_url and "reset_url" not in problems and not is_web_address(wanted.reset_url):
        problems["reset_url"] = ("The password reset URL must be a web address beginning "
                                 "with https:// (or http://), e.g. https://id.example.com/reset.")
    return application, problems


#: The text fields of a token, in words, whose length the column limits.
_LIMITED = {"label": "The label", "email_domain": "The email domain",
            "reset_url": "The password reset URL"}


def _too_long(wanted: TokenRequest) -> dict[str, str]:
    """The fields longer than their column holds, each with a message: the console's form,
    the command line and a program all get this answer instead of a database error."""
    problems = {}
    for field, words in _LIMITED.items():
        given = getattr(wanted, field)
        stored = given.strip() if field == "email_domain" else given
        if longest := too_long_for(EnrollmentToken, field, stored):
            problems[field] = (f"{words} must be at most {longest} characters (this one has "
                               f"{len(stored)}): shorten it.")
    return problems


def create_token(wanted: TokenRequest, *, actor: Actor,
                 request: HttpRequest | None = None) -> tuple[EnrollmentToken, Secret]:
    """A new one-use enrolment token; the clear value is returned once, as a Secret."""
    require_permission(actor, ADD_TOKEN, "create enrolment tokens", "device.token.create",
                       request, {})
    application, problems = _problems(wanted)
    if problems:
        raise EnrollmentRefused(problems)
    clear = "kse_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = EnrollmentToken.objects.create(
            digest=rules.token_digest(clear), label=wanted.label, created_by=actor.user,
            expires_at=timezone.now() + timedelta(hours=wanted.hours),
            application=application, mode=wanted.mode, check_seconds=wanted.check_seconds,
            reset_url=wanted.reset_url, login_name=wanted.login_name,
            email_domain=wanted.email_domain.strip())
        audit.record("device.token.create", request=request, actor=actor.user,
                     actor_label=actor.label, target=token,
                     detail={"mode": token.mode, "client_id": application.client_id,
                             "expires_at": token.expires_at.isoformat()})
    return token, Secret(clear)


def configuration(device: Device) -> dict:
    """What the agent needs to work, as sent at enrolment."""
    base = settings.BASE_URL.rstrip("/")
    return {
        "device_id": device.pk,
        "client_id": device.application.client_id,
        "token_url": f"{base}/oauth/token/",
        "userinfo_url": f"{base}/oauth/userinfo/",
        "reset_url": device.reset_url or f"{base}/reset",
        "mode": device.mode,
        "check_seconds": device.check_seconds,
        "login_name": device.login_name,
        "email_domain": device.email_domain,
    }


def enrolment_throttled(request: HttpRequest | None) -> int | None:
    """Seconds before this address may try to enrol again, or None. Token guessing is
    slowed down the way ``keystead.login.throttle`` slows password guessing: failed
    enrolments from the address are counted in the audit log, so every web process sees
    the same count. Being held back is audited, and does not count as a failure."""
    address = audit.client_ip(request)
    if address is None:
        return None
    now = timezone.now()
    since = now - timedelta(seconds=rules.ENROLL_WINDOW_SECONDS)
    stamps = Event.objects.filter(action="device.enroll", outcome=Outcome.FAILURE,
                                  client_ip=address, created_at__gt=since).order_by(
        "-created_at").values_list("created_at", flat=True)[:rules.ENROLL_FAILURES]
    wait = rules.retry_after([stamp.timestamp() for stamp in stamps], now.timestamp(),
                             limit=rules.ENROLL_FAILURES, window=rules.ENROLL_WINDOW_SECONDS)
    if wait is not None:
        audit.record("device.enroll.throttled", request=request, actor_label="anonymous",
                     outcome=Outcome.DENIED, detail={"retry_after": wait})
    return wait


def enroll(clear_token: Secret, *, name: str, public_key: str,
           request: HttpRequest | None = None) -> Device:
    """Use a token once to register a computer and its public key. The key is kept in one
    canonical form, and the database holds each key once (``devices_one_computer_per_key``):
    two enrolments with one key at the same moment cannot both succeed, whatever process
    serves them. A key already registered is refused (KeyInUse) and the token stays
    unused, since the transaction that would have used it is rolled back."""
    problems: dict[str, str] = {}
    if not name.strip() or len(name) > 253:
        problems["name"] = "Give the computer's name (1 to 253 characters)."
    try:
        public_key = signing.canonical_public_pem(public_key)
    except (ValueError, TypeError):
        problems["public_key"] = "The public key must be an Ed25519 key in PEM form."
    if problems:
        raise EnrollmentRefused(problems)
    try:
        with transaction.atomic():
            token = (EnrollmentToken.objects.select_for_update()
                     .filter(digest=rules.token_digest(clear_token.reveal())).first())
            usable = (token is not None and token.used_at is None
                      and token.expires_at > timezone.now())
            if usable:
                return _register(token, name, public_key, request)
    except IntegrityError:
        if not Device.objects.filter(public_key=public_key).exists():
            raise  # not the key: nothing this function can explain
        audit.record("device.enroll", request=request, actor_label=f"computer {name}"[:255],
                     outcome=Outcome.DENIED,
                     detail={"reason": "the public key is already registered to another "
                                       "computer"})
        raise KeyInUse({"public_key": (
            "This public key is already registered to another computer; each computer "
            "needs a key of its own. Enrol with a newly made key (keystead-agent enroll "
            "makes one each time); the enrolment token was not used.")}) from None
    # Outside the transaction: the refusal is recorded, nothing else was written.
    audit.record("device.enroll", request=request, actor_label=f"computer {name}"[:255],
                 outcome=Outcome.FAILURE,
                 detail={"reason": "unknown, used or expired enrolment token"})
    raise EnrollmentRefused({"token": "This enrolment token is unknown, used or expired: "
                                      "ask an administrator for a new one."})


def _register(token: EnrollmentToken, name: str, public_key: str,
              request: HttpRequest | None) -> Device:
    """Inside ``enroll``'s transaction, with the token row locked."""
    token.used_at = timezone.now()
    token.save(update_fields=["used_at"])
    device = Device.objects.create(
        name=name.strip(), public_key=public_key, application=token.application,
        mode=token.mode, check_seconds=token.check_seconds, reset_url=token.reset_url,
        login_name=token.login_name, email_domain=token.email_domain,
        last_seen=timezone.now())
    audit.record("device.enroll", request=request, actor_label=f"computer {device.name}",
                 target=device, detail={"token": token.pk, "mode": device.mode})
    return device


def signed_device(request: HttpRequest) -> Device:
    """The device that signed ``request``; NotSigned if none did, validly, recently and
    for the first time (each nonce is accepted once). The signature must cover the device
    id the request names, with method, path and query, time, nonce and body
    (``signing.message``), so no part of it can be swapped."""
    try:
        device_id = int(request.headers.get(signing.DEVICE_HEADER, ""))
        timestamp = int(request.headers.get(signing.TIME_HEADER, ""))
    except ValueError:
        raise NotSigned("the request is not signed by an enrolled computer") from None
    if not rules.within_skew(timestamp, int(time.time()), signing.MAX_SKEW):
        raise NotSigned("the request's time is too far from Keystead's: check the clock")
    nonce = request.headers.get(signing.NONCE_HEADER, "")
    device = Device.objects.select_related("application").filter(pk=device_id).first()
    if device is None or not signing.verify(
            signing.load_public(device.public_key),
            request.headers.get(signing.SIGNATURE_HEADER, ""), request.method or "",
            request.get_full_path(), timestamp, nonce, request.body, device_id=device.pk):
        raise NotSigned("the request is not signed by an enrolled computer: enrol again "
                        "(or, if Keystead was just upgraded, upgrade the agent to the same "
                        "version)")
    _use_nonce(device, nonce, request)
    Device.objects.filter(pk=device.pk).update(last_seen=timezone.now())
    return device


def _use_nonce(device: Device, nonce: str, request: HttpRequest) -> None:
    """Record ``nonce`` as used; NotSigned if it already was (a replayed request). Nonces
    that can no longer come with an accepted time (``spent_nonces``) are pruned."""
    now = timezone.now()
    try:
        with transaction.atomic():
            SeenNonce.objects.create(device=device, nonce=nonce, seen_at=now)
    except IntegrityError:
        audit.record("device.replay", request=request, actor_label=f"computer {device.name}",
                     target=device, outcome=Outcome.DENIED,
                     detail={"reason": "a signed request was sent again"})
        raise NotSigned("this signed request was already used: send a new one") from None
    spent_nonces(now).filter(device=device).delete()


#: How long a used nonce is kept (seconds). A request stamped T is accepted while
#: ``abs(int(now) - T) <= MAX_SKEW``: from T - MAX_SKEW until just before T + MAX_SKEW + 1
#: (``int`` drops the fraction of the current second). Its nonce is seen at the earliest at
#: T - MAX_SKEW, so keeping every nonce 2 * MAX_SKEW + 1 seconds covers the whole time its
#: request could be accepted, to the last fraction of a second, and no longer.
NONCE_KEEP_SECONDS = 2 * signing.MAX_SKEW + 1


def spent_nonces(now: datetime) -> QuerySet[SeenNonce]:
    """Nonces seen more than ``NONCE_KEEP_SECONDS`` ago: a request with one of them would
    be refused for its time anyway."""
    return SeenNonce.objects.filter(seen_at__lt=now - timedelta(seconds=NONCE_KEEP_SECONDS))


def report(device: Device, raw_events: list, *, status: dict | None = None,
           request: HttpRequest | None = None) -> int:
    """Record the agent's events (known fields only) in the audit log; return how many."""
    if not isinstance(raw_events, list) or len(raw_events) > rules.MAX_EVENTS:
        raise EnrollmentRefused({"events": f"Send a list of at most {rules.MAX_EVENTS} "
                                           "events."})
    events = [event for event in map(rules.clean_event, raw_events) if event is not None]
    with transaction.atomic():
        for event in events:
            outcome = (Outcome.FAILURE if event.get("outcome") in ("failure", "denied", "refused")
                       else Outcome.SUCCESS)
            audit.record(f"agent.{event['event']}", request=request,
                         actor_label=f"computer {device.name}", target=device,
                         outcome=outcome, detail=event)
        _note_reported_user(device, events)
        if isinstance(status, dict):
            Device.objects.filter(pk=device.pk).update(last_report=rules.clean_status(status))
    return len(events)


#: The longest reported user the column holds (a longer name is cut, not refused: the
#: report is only shown).
REPORTED_LENGTH = Device._meta.get_field("reported_user").max_length


def _note_reported_user(device: Device, events: list[dict[str, str]]) -> None:
    """Keep the Keystead name of the last successful sign-in the computer reports, for the
    console to show beside the owner. It is the computer's own word, so it decides
    nothing: the owner is whom an administrator assigns (``change_device``), never whom a
    machine names."""
    for event in reversed(events):
        if event["event"] == "sign-in" and event.get("outcome") == "success" \
                and event.get("user"):
            name = rules.login_name(event["user"], mapping=device.login_name,
                                    email_domain=device.email_domain)
            Device.objects.filter(pk=device.pk).update(reported_user=name[:REPORTED_LENGTH])
            return


#: Stands for "leave as it is" in ``change_device``.
KEEP: Any = object()


def change_device(device: Device, *, owner: User | None = KEEP, mode: str = KEEP,
                  check_seconds: int = KEEP, actor: Actor,
                  request: HttpRequest | None = None) -> None:
    """Change a computer's owner, mode or check interval, as the console's change form
    does; what is not given stays as stored. The owner is set only here: it is whom an
    administrator assigns, never what the computer reports (``reported_user``), so one
    permission check, made here for every door, decides who may set it, and the change
    is audited (``device.change``, like a change of mode or interval). Two
    administrators may have the form open at once, so only the fields one changed are
    written. The agent picks mode and interval up at its next check
    (``configuration``)."""
    require_permission(actor, "devices.change_device", "change computers", "device.change",
                       request, {"device": device.pk})
    problems: dict[str, str] = {}
    if mode is not KEEP and mode not in dict(MODES):
        problems["mode"] = f"Mode must be one of: {', '.join(dict(MODES))}."
    if check_seconds is not KEEP and not (isinstance(check_seconds, int)
                                          and 30 <= check_seconds <= 86400):
        problems["check_seconds"] = "The check interval must be between 30 and 86400 seconds."
    if problems:
        raise EnrollmentRefused(problems)
    given = {key: value for key, value in {"owner": owner, "mode": mode,
                                           "check_seconds": check_seconds}.items()
             if value is not KEEP}
    with transaction.atomic():
        before = (Device.objects.select_for_update(of=("self",)).select_related("owner")
                  .get(pk=device.pk))
        changed = {key: _shown(value) for key, value in given.items()
                   if _shown(getattr(before, key)) != _shown(value)}
        if given:
            Device.objects.filter(pk=device.pk).update(**given)
        audit.record("device.change", request=request, actor=actor.user,
                     actor_label=actor.label, target=device, detail=changed)


def _shown(value: object) -> object:
    """A device field's value as the audit event tells it: a person by email."""
    if isinstance(value, User):
        return value.email
    return "" if value is None else value


def delete_device(device: Device, *, actor: Actor, request: HttpRequest | None = None) -> None:
    """Forget a computer: its key stops working and it must enrol again."""
    require_permission(actor, "devices.delete_device", "delete computers", "device.delete",
                       request, {"device": device.pk})
    with transaction.atomic():
        audit.record("device.delete", request=request, actor=actor.user,
                     actor_label=actor.label, target=device)
        device.delete()
