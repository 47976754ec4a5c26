"""Passkeys (WebAuthn): registration, passwordless sign-in and use as a second factor.

The ceremonies are py_webauthn's; this module holds Keystead's rules around them:

* The relying party id is the host of ``KEYSTEAD_BASE_URL`` and the only
  accepted origin is that URL's origin. A passkey is bound to its RP id, so
  changing the base URL's host makes every registered passkey unusable.
* A challenge lives in the session, for one ceremony of one purpose, for at most
  ``CHALLENGE_SECONDS``; it is removed the moment an answer arrives, right or
  wrong, so an answer can never be replayed.
* Sign counts: when the authenticator keeps a counter (either the stored or the
  reported count is non-zero), each use must report a larger number than the last
  one. A count that does not grow means two copies of the credential exist; the
  use is refused and audited as ``passkey.clone_suspected``.
* Passwordless sign-in requires user verification (PIN or biometric on the
  authenticator): something the person has plus something they know or are, so
  it is multi-factor on its own. As a second factor after the password, user
  presence is enough.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import webauthn
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn.helpers import bytes_to_base64url, options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from keystead import json_text
from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login import lockout
from keystead.login.models import Passkey, PasskeyHandle

SESSION_KEY = "keystead.passkey_challenge"
CHALLENGE_SECONDS = 180
TIMEOUT_MS = 120_000
NAME_MAX = 64
RP_NAME = "Keystead"

# Purposes of a challenge: one ceremony's challenge never serves another.
REGISTER = "register"
SIGN_IN = "sign_in"
SECOND_FACTOR = "second_factor"

GENERIC_FAILURE = ("That passkey did not sign you in. It may have been removed from your "
                   "account, or the account cannot sign in now. Sign in with your password, "
                   "or try another passkey.")
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyError(Exception):
    """A ceremony failed. ``message`` is for the person; ``reason`` is for the audit log."""

    def __init__(self, message: str, reason: str = "", status: int = 400,
                 user: User | None = None) -> None:
        super().__init__(message)
        self.user = user  # the account the failed answer named, when known
        self.message = message
        self.reason = reason or message
        self.status = status


@dataclass(frozen=True)
class Verified:
    passkey: Passkey
    user_verified: bool


# --- relying party -------------------------------------------------------------------------

def rp_id() -> str:
    """The relying party id: the host of KEYSTEAD_BASE_URL (no scheme, no port).

    WebAuthn wants a domain name; an IP address (the default base URL's
    127.0.0.1) cannot hold passkeys, which is said plainly instead of letting the
    browser fail with a vague error.
    """
    host = urlsplit(settings.BASE_URL).hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = not host
    if is_ip:
        raise PasskeyError(
            f"Passkeys need Keystead to be reached by a host name, but KEYSTEAD_BASE_URL is "
            f"{settings.BASE_URL}. Set it to the https:// address people use (or "
            "http://localhost:<port> to try passkeys on this computer).",
            reason="base URL has no host name", status=503)
    return host


def expected_origin() -> str:
    parts = urlsplit(settings.BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


# --- the factor registry's questions -------------------------------------------------------

def available(user: User) -> bool:
    return Passkey.objects.filter(user=user).exists()


def reset(user: User) -> int:
    deleted, _ = Passkey.objects.filter(user=user).delete()
    return deleted


# --- challenges ----------------------------------------------------------------------------

def _issue_challenge(request: HttpRequest, purpose: str, **extra: Any) -> bytes:
    challenge = secrets.token_bytes(32)
    request.session[SESSION_KEY] = {"purpose": purpose, "challenge": bytes_to_base64url(challenge),
                                    "at": time.time(), **extra}
    return challenge


def _take_challenge(request: HttpRequest, purpose: str) -> dict[str, Any]:
    """The pending challenge of this purpose, removed from the session: it serves once."""
    data = request.session.pop(SESSION_KEY, None)
    if not data or data.get("purpose") != purpose:
        raise PasskeyError("There is no passkey request waiting for this answer (it was already "
                           "used, or another one replaced it). Start again.",
                           reason="no pending challenge")
    if time.time() - data["at"] > CHALLENGE_SECONDS:
        raise PasskeyError("The passkey request expired. Start again and answer within "
                           f"{CHALLENGE_SECONDS // 60} minutes.", reason="challenge expired")
    data["challenge"] = webauthn.base64url_to_bytes(data["challenge"])
    return data


def parse_credential(raw: str) -> dict[str, Any]:
    """The browser's answer (a PublicKeyCredential as JSON), or a clear error."""
    if not raw or not raw.strip():
        raise PasskeyError("The passkey answer is missing: the browser sent no credential. "
                           "Use a browser that supports passkeys, with JavaScript on.",
                           reason="no credential")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise PasskeyError("The passkey answer is not valid JSON. Send the credential "
                           "exactly as the browser returned it.", reason="bad JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(
            data.get("response"), dict):
        raise PasskeyError("The passkey answer is not a WebAuthn credential: it needs an "
                           "\"id\" and a \"response\" object.", reason="not a credential")
    if (where := json_text.unstorable_in(data)) is not None:
        raise PasskeyError("The passkey answer is not a WebAuthn credential: "
                           + json_text.problem_text(where), reason="unstorable text")
    return data


def _descriptors(passkeys) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(
        id=webauthn.base64url_to_bytes(p.credential_id),
        transports=[AuthenticatorTransport(t) for t in p.transports if t in _TRANSPORTS] or None,
    ) for p in passkeys]


# --- registration --------------------------------------------------------------------------

def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if json_text.unstorable(name):
        raise PasskeyError("The name holds a NUL character or an unpaired surrogate; type "
                           "it again without them.", reason="unstorable name")
    if not name:
        raise PasskeyError("Give the passkey a name, such as “Work laptop” or “Phone”, so you "
                           "can tell your passkeys apart.", reason="no name")
    if len(name) > NAME_MAX:
        raise PasskeyError(f"The name is {len(name)} characters long; use at most {NAME_MAX}.",
                           reason="name too long")
    return name


def user_handle(user: User) -> bytes:
    handle, _ = PasskeyHandle.objects.get_or_create(
        user=user, defaults={"handle": bytes_to_base64url(secrets.token_bytes(32))})
    return webauthn.base64url_to_bytes(handle.handle)


def registration_options(request: HttpRequest, user: User, name: str) -> dict[str, Any]:
    relying_party = rp_id()
    name = clean_name(name)
    challenge = _issue_challenge(request, REGISTER, user=user.pk, name=name)
    options = webauthn.generate_registration_options(
        rp_id=relying_party, rp_name=RP_NAME, user_name=user.email,
        user_display_name=user.get_full_name() or user.email, user_id=user_handle(user),
        challenge=challenge, timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=_descriptors(Passkey.objects.filter(user=user)),
    )
    return options_to_json_dict(options)


def register(request: HttpRequest, user: User, raw_credential: str) -> Passkey:
    """Verify a new credential and store it; audits the outcome either way."""
    try:
        state = _take_challenge(request, REGISTER)
        if state.get("user") != user.pk:
            raise PasskeyError("This passkey request was started by another account. Start "
                               "again.", reason="challenge of another user")
        credential = parse_credential(raw_credential)
        try:
            result = webauthn.verify_registration_response(
                credential=credential, expected_challenge=state["challenge"],
                expected_rp_id=rp_id(), expected_origin=expected_origin())
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError("The passkey could not be verified, so it was not added. "
                               "Try again.", reason=f"verification failed: {exc}") from None
        credential_id = bytes_to_base64url(result.credential_id)
        transports = credential["response"].get("transports") or []
        with transaction.atomic():
            if Passkey.objects.filter(credential_id=credential_id).exists():
                raise PasskeyError("This passkey is already registered.",
                                   reason="credential already registered", status=409)
            passkey = Passkey.objects.create(
                user=user, name=state["name"], credential_id=credential_id,
                public_key=result.credential_public_key, sign_count=result.sign_count,
                transports=[t for t in transports if t in _TRANSPORTS][:8],
                aaguid=result.aaguid, backed_up=result.credential_backed_up)
    except PasskeyError as exc:
        audit.record("passkey.enrol", request=request, actor=user, target=user,
                     outcome=Outcome.FAILURE, detail={"reason": exc.reason[:500]})
        raise
    audit.record("passkey.enrol", request=request, actor=user, target=user,
                 detail={"passkey": passkey.pk, "name": passkey.name, "aaguid": passkey.aaguid,
                         "user_verified": result.user_verified})
    return passkey


def rename(request: HttpRequest, passkey: Passkey, name: str) -> None:
    old, passkey.name = passkey.name, clean_name(name)
    passkey.save(update_fields=["name"])
    audit.record("passkey.rename", request=request, target=passkey.user,
                 detail={"passkey": passkey.pk, "from": old, "to": passkey.name})


def remove(request: HttpRequest, passkey: Passkey) -> None:
    detail = {"passkey": passkey.pk, "name": passkey.name}
    user = passkey.user
    passkey.delete()
    audit.record("passkey.remove", request=request, target=user, detail=detail)


# --- authentication ------------------------------------------------------------------------

def authentication_options(request: HttpRequest, user: User | None = None) -> dict[str, Any]:
    """Options for a sign-in (``user`` None: any discoverable passkey) or a second factor."""
    relying_party = rp_id()
    if user is None:
        challenge = _issue_challenge(request, SIGN_IN)
        options = webauthn.generate_authentication_options(
            rp_id=relying_party, challenge=challenge, timeout=TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED)
    else:
        challenge = _issue_challenge(request, SECOND_FACTOR, user=user.pk)
        options = webauthn.generate_authentication_options(
            rp_id=relying_party, challenge=challenge, timeout=TIMEOUT_MS,
            allow_credentials=_descriptors(Passkey.objects.filter(user=user)),
            user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json_dict(options)


def verify_assertion(request: HttpRequest, raw_credential: str,
                     user: User | None = None) -> Verified:
    """Check a sign-in answer; raises PasskeyError (audit it with the caller's context).

    ``user`` None is passwordless sign-in: the passkey names its account and user
    verification is required. Otherwise the passkey must belong to ``user``.
    """
    purpose = SIGN_IN if user is None else SECOND_FACTOR
    state = _take_challenge(request, purpose)
    if user is not None and state.get("user") != user.pk:
        raise PasskeyError(GENERIC_FAILURE, reason="challenge of another user")
    credential = parse_credential(raw_credential)
    passkey = Passkey.objects.select_related("user").filter(credential_id=credential["id"]).first()
    if passkey is None or (user is not None and passkey.user_id != user.pk):
        raise PasskeyError(GENERIC_FAILURE, reason="unknown passkey", status=401)
    handle = credential["response"].get("userHandle")
    if handle:
        stored = PasskeyHandle.objects.filter(user_id=passkey.user_id).values_list(
            "handle", flat=True).first()
        if handle != stored:
            raise PasskeyError(GENERIC_FAILURE, reason="user handle does not match", status=401,
                               user=passkey.user)
    try:
        # The sign count is checked below, to tell a suspected clone from other failures.
        result = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=state["challenge"],
            expected_rp_id=rp_id(), expected_origin=expected_origin(),
            credential_public_key=bytes(passkey.public_key), credential_current_sign_count=0,
            require_user_verification=user is None)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(GENERIC_FAILURE, reason=f"verification failed: {exc}",
                           status=401, user=passkey.user) from None
    with transaction.atomic():
        # Lock the row: two uses at once with the same count must not both pass.
        current = Passkey.objects.select_for_update().get(pk=passkey.pk)
        stored_count = current.sign_count
        cloned = bool(result.new_sign_count or stored_count) and \
            result.new_sign_count <= stored_count
        if not cloned:
            current.sign_count = result.new_sign_count
            current.last_used_at = timezone.now()
            current.backed_up = result.credential_backed_up
            current.save(update_fields=["sign_count", "last_used_at", "backed_up"])
    if cloned:
        audit.record("passkey.clone_suspected", request=request, actor=passkey.user,
                     target=passkey.user, outcome=Outcome.DENIED,
                     detail={"passkey": passkey.pk, "name": passkey.name,
                             "stored_count": stored_count,
                             "reported_count": result.new_sign_count})
        raise PasskeyError(GENERIC_FAILURE, status=401, user=passkey.user, reason=(
            f"sign count did not increase ({result.new_sign_count} after {stored_count}): "
            "possible cloned authenticator"))
    return Verified(current, result.user_verified)


def sign_in(request: HttpRequest, raw_credential: str, door: str = "portal") -> User | None:
    """Passwordless sign-in: the account the passkey belongs to, or None (audited either way).

    Disabled and locked accounts get the same answer as an unknown passkey. No
    password was used, so the password rules (expiry, forced change, strength)
    are not checked here; they apply the next time the password is used.
    """
    def fail(reason: str, user: User | None = None) -> None:
        audit.record("login", request=request, outcome=Outcome.FAILURE, actor_label="anonymous",
                     target=user, detail={"method": "passkey", "door": door,
                                          "reason": reason[:500]})

    try:
        verified = verify_assertion(request, raw_credential)
    except PasskeyError as exc:
        fail(exc.reason, exc.user)
        raise
    user = User.objects.get(pk=verified.passkey.user_id)
    now = timezone.now()
    lockout.release_if_expired(user, now)
    refusal = lockout.sign_in_refusal(user, now)
    if refusal is not None:
        fail(refusal, user)
        return None
    if not lockout.admit(user):
        fail("account locked while the passkey was checked", user)
        return None
    audit.record("login", request=request, actor=user, target=user,
                 detail={"method": "passkey", "door": door, "passkey": verified.passkey.pk,
                         "user_verified": verified.user_verified})
    return user
