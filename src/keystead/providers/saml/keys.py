"""The IdP's signing keys: made, chosen, published and rotated with an overlap.

The private key is stored encrypted with ``keystead.crypto`` (purpose ``saml-idp-key``),
so a database dump alone cannot sign assertions. The first key is made on first use.

Rotation (``rotate``) is one step with two dates, so no timer has to fire:

- the next key is made now and published in metadata at once, but signs only from
  ``now + overlap``: SPs that refresh metadata learn it before it is used;
- the current key keeps signing until then and stays published for ``overlap`` after
  the switch, so responses it signed (and SPs slow to refresh) still verify.

``rotate(overlap=timedelta(0))`` switches at once (after a key is known to be
compromised); the old key then stays published for no time at all.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Subquery
from django.utils import timezone

from keystead import crypto
from keystead.providers.saml.models import SigningKey
from keystead.secret import Secret

PURPOSE = "saml-idp-key"
CERTIFICATE_YEARS = 10
DEFAULT_OVERLAP = dt.timedelta(days=7)


def _new_key_pair(now: dt.datetime) -> tuple[str, str]:
    """A 2048-bit RSA key (what SAML peers expect) and a self-signed certificate (PEM, PEM).

    SAML peers trust the certificate as published in metadata, not through a CA, so
    self-signed is the norm; its dates are wide because rotation is decided by
    ``signs_from``/``published_until``, not by certificate expiry.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = settings.BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "keystead"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{host} SAML IdP")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * CERTIFICATE_YEARS))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def _create(signs_from: dt.datetime, now: dt.datetime) -> SigningKey:
    pem, certificate = _new_key_pair(now)
    return SigningKey.objects.create(private_key=crypto.encrypt(Secret(pem), PURPOSE),
                                     certificate=certificate, created_at=now,
                                     signs_from=signs_from)


def _published_at(now: dt.datetime) -> Q:
    """Keys metadata lists at ``now``: those not (yet) past their publication."""
    return Q(published_until__isnull=True) | Q(published_until__gt=now)


def _signing_first(now: dt.datetime) -> QuerySet[SigningKey]:
    """The keys that may sign at ``now``, the one that does first."""
    return SigningKey.objects.filter(signs_from__lte=now).order_by("-signs_from", "-pk")


def with_state(keys: QuerySet[SigningKey], now: dt.datetime) -> QuerySet[SigningKey]:
    """``keys`` each marked ``is_signing`` and ``is_published`` at ``now``, by the rules of
    ``current`` and ``published``, in the one statement that lists them."""
    return keys.annotate(
        is_signing=Q(pk=Subquery(_signing_first(now).values("pk")[:1])),
        is_published=ExpressionWrapper(_published_at(now), output_field=BooleanField()))


def published(now: dt.datetime | None = None) -> list[SigningKey]:
    """Keys to publish in metadata, the signing one first, then the next, then retired."""
    now = now or timezone.now()
    keys = list(SigningKey.objects.filter(_published_at(now)))
    signing = current(now, create=False)
    return sorted(keys, key=lambda k: (k.pk != getattr(signing, "pk", None),
                                       k.signs_from < now, -k.signs_from.timestamp()))


def current(now: dt.datetime | None = None, *, create: bool = True) -> SigningKey | None:
    """The key that signs now: the newest whose ``signs_from`` has passed (made if none)."""
    now = now or timezone.now()
    key = _signing_first(now).first()
    if key is None and create:
        # Two processes starting at once may each make one: the newer signs, both are
        # published, and nothing is lost.
        key = _create(now, now)
    return key


def private_pem(key: SigningKey) -> Secret:
    return crypto.decrypt(key.private_key, PURPOSE)


def rotate(overlap: dt.timedelta = DEFAULT_OVERLAP,
           now: dt.datetime | None = None) -> tuple[SigningKey | None, SigningKey]:
    """Make the next key (signing from ``now + overlap``); retire the current one at
    ``now + 2 * overlap``. Returns (old key or None, new key). A key already waiting to
    sign is replaced by the new one (it is unpublished)."""
    if overlap < dt.timedelta(0):
        raise ValueError("overlap: give zero or a positive duration")
    now = now or timezone.now()
    with transaction.atomic():
        old = current(now, create=False)
        SigningKey.objects.filter(signs_from__gt=now).delete()
        new = _create(now + overlap, now)
        if old is not None:
            SigningKey.objects.filter(pk=old.pk).update(published_until=now + 2 * overlap)
            old.refresh_from_db()
        # Keys retired earlier stop being published no later than the old one.
        SigningKey.objects.filter(signs_from__lt=now, published_until__isnull=True).exclude(
            pk__in=[new.pk, getattr(old, "pk", None)]).update(published_until=now)
    return old, new


def certificate_body(pem: str) -> str:
    """The base64 body of a PEM certificate, as metadata's <ds:X509Certificate> holds it."""
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)
