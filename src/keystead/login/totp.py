"""Authenticator apps: RFC 6238 time-based one-time codes.

The top half is pure (no database): making a seed, computing and checking a
code for a given clock, the ``otpauth://`` URI and its QR code. The bottom
half are the services the portal, the sign-in step and the console call:
start an enrolment, confirm it, verify a code at sign-in, remove a device.

Rules:

* a seed is 160 random bits (RFC 4226's recommended length), encrypted at
  rest, shown only while the enrolment is unconfirmed;
* a code is accepted for the current time step and one step either side
  (±30 s of clock drift);
* a code is accepted once: the device keeps the step of the newest accepted
  code, and a code for that step or an earlier one is refused. The check and
  the update are one conditional ``UPDATE ... WHERE last_step < step``, so of
  several processes that receive the same code at the same moment exactly one
  wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pyotp
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead import crypto
from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login.models import TotpDevice
from keystead.secret import Secret

ISSUER = "Keystead"
SEED_BYTES = 20  # 160 bits
WINDOW = 1  # steps accepted either side of now
PURPOSE = "totp"
DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256}


@dataclass(frozen=True)
class Params:
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30

    def __post_init__(self) -> None:
        if self.algorithm not in DIGESTS:
            raise ValueError(f"algorithm must be one of {', '.join(DIGESTS)}")
        if self.digits not in (6, 8):
            raise ValueError("digits must be 6 or 8")
        if self.period <= 0:
            raise ValueError("period must be positive")


# ----------------------------------------------------------------------- pure


def new_seed() -> Secret:
    """A fresh 160-bit seed, base32 without padding (what apps and oathtool take)."""
    return Secret(base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode().rstrip("="))


def step_at(now: float, params: Params) -> int:
    return int(now) // params.period


def code_for_step(seed: Secret, step: int, params: Params) -> str:
    otp = pyotp.TOTP(seed.reveal(), digits=params.digits, digest=DIGESTS[params.algorithm],
                     interval=params.period)
    return otp.generate_otp(step)


def normalise(code: str) -> str:
    """What a person typed, without spaces or dashes ("123 456" is "123456")."""
    return "".join(ch for ch in code if ch not in " -\t")


def matching_step(seed: Secret, code: str, now: float, params: Params,
                  window: int = WINDOW) -> int | None:
    """The time step ``code`` belongs to within ±``window`` steps of ``now``, or None.

    Every candidate is compared (constant-time), so the answer's timing does not
    tell which step matched.
    """
    code = normalise(code)
    if len(code) != params.digits or not code.isdigit():
        return None
    current = step_at(now, params)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(code_for_step(seed, step, params), code) and found is None:
            found = step
    return found


def provisioning_uri(seed: Secret, account: str, params: Params, issuer: str = ISSUER) -> str:
    """The ``otpauth://totp/...`` URI apps import (Key Uri Format), every parameter explicit."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": seed.reveal(), "issuer": issuer, "algorithm": params.algorithm,
                       "digits": params.digits, "period": params.period}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def qr_svg(text: str) -> str:
    """A QR code of ``text`` as an inline SVG document (no image files, no network)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def qr_data_uri(text: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(text).encode()).decode()


def group_seed(seed: Secret) -> str:
    """The seed in groups of four for typing it by hand."""
    value = seed.reveal()
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4))


# ------------------------------------------------------------------- services


class EnrolmentError(Exception):
    """The enrolment cannot go on; the message says why and what to do."""


def params_of(device: TotpDevice) -> Params:
    return Params(device.algorithm, device.digits, device.period)


def seed_of(device: TotpDevice) -> Secret:
    return crypto.decrypt(device.secret_encrypted, PURPOSE)


def active_devices(user: User):
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False)


def has_device(user: User) -> bool:
    return active_devices(user).exists()


def pending_device(user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).last()


MAX_DEVICES = 5


def start_enrolment(user: User, *, name: str = "Authenticator app", algorithm: str = "SHA1",
                    digits: int = 6, request: HttpRequest | None = None) -> TotpDevice:
    """Make a new unconfirmed device with a fresh seed (replacing an unfinished one)."""
    params = Params(algorithm, int(digits))
    if active_devices(user).count() >= MAX_DEVICES:
        raise EnrolmentError(f"You already have {MAX_DEVICES} authenticator apps. "
                             "Remove one before adding another.")
    name = (name or "").strip() or "Authenticator app"
    with transaction.atomic():
        TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).delete()
        device = TotpDevice.objects.create(
            user=user, name=name[:64], algorithm=params.algorithm, digits=params.digits,
            period=params.period, secret_encrypted=crypto.encrypt(new_seed(), PURPOSE))
    audit.record("totp.enrol.start", request=request, actor=user, target=user,
                 detail={"device": device.name, "algorithm": params.algorithm,
                         "digits": params.digits})
    return device


def _accept(device: TotpDevice, code: str, now: float) -> str:
    """Try ``code`` on ``device``: "ok", "wrong" or "reused" (its step was already used)."""
    step = matching_step(seed_of(device), code, now, params_of(device))
    if step is None:
        return "wrong"
    won = TotpDevice.objects.filter(pk=device.pk, last_step__lt=step).update(
        last_step=step, last_used_at=timezone.now())
    return "ok" if won == 1 else "reused"


def confirm(user: User, device: TotpDevice, code: str, *, request: HttpRequest | None = None,
            now: float | None = None) -> bool:
    """Activate an enrolment when ``code`` comes from the app; audits either way."""
    now = time.time() if now is None else now
    result = _accept(device, code, now)
    if result == "ok":
        TotpDevice.objects.filter(pk=device.pk, confirmed_at__isnull=True).update(
            confirmed_at=timezone.now())
        audit.record("totp.enrol", request=request, actor=user, target=user,
                     detail={"device": device.name, "algorithm": device.algorithm,
                             "digits": device.digits})
        return True
    audit.record("totp.enrol", request=request, actor=user, target=user, outcome=Outcome.FAILURE,
                 detail={"device": device.name, "reason": f"{result} code"})
    return False


def check_device(device: TotpDevice, code: str, *, now: float | None = None) -> str:
    """Try ``code`` on one active device (consuming it): "ok", "wrong" or "reused"."""
    return _accept(device, code, time.time() if now is None else now)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # "wrong code" or "code already used"
    device: TotpDevice | None = None


def verify(user: User, code: str, *, now: float | None = None) -> Verdict:
    """Check a sign-in code against the person's active devices; a code works once.

    Not audited here: the caller (the sign-in step, the portal) records the
    outcome in its own words.
    """
    now = time.time() if now is None else now
    reused = None
    for device in active_devices(user):
        result = _accept(device, code, now)
        if result == "ok":
            return Verdict(True, device=device)
        if result == "reused":
            reused = device
    if reused is not None:
        return Verdict(False, "code already used", reused)
    return Verdict(False, "wrong code")


def remove(user: User, device: TotpDevice, *, request: HttpRequest | None = None) -> None:
    name = device.name
    deleted, _ = TotpDevice.objects.filter(pk=device.pk, user=user).delete()
    if deleted:
        audit.record("totp.remove", request=request, actor=user, target=user,
                     detail={"device": name})


def reset(user: User) -> int:
    """Remove every device of the person (the console's "reset second factors")."""
    deleted, _ = TotpDevice.objects.filter(user=user).delete()
    return deleted


def register() -> None:
    """Offer authenticator apps to the sign-in step (called from the app's ``ready``)."""
    from keystead.login import factors

    factors.register(factors.FactorMethod(
        key="totp", label="Code from your authenticator app", url_name="login_verify_totp",
        available=has_device, reset=reset, order=20, enrolled=True))
