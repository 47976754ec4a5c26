"""Encrypting small secrets at rest (TOTP seeds, queued passwords).

A secret Keystead must read back later (unlike a password, which is only
hashed) is stored as a Fernet token: AES-128-CBC with an HMAC-SHA256 tag, so a
changed or truncated value is refused rather than decrypted to garbage.

The key is derived from ``settings.SECRET_KEY`` with HKDF-SHA256 and a
*purpose* label, so each kind of secret has its own key: a TOTP seed cannot be
pasted into another column and decrypted there, and the raw SECRET_KEY is
never used as a cipher key. Keys from ``settings.SECRET_KEY_FALLBACKS`` still
decrypt, which lets an operator rotate SECRET_KEY; ``reencrypt`` moves a value
to the current key.

A database dump or backup without SECRET_KEY holds no usable secret.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from keystead.secret import Secret

__all__ = ["DecryptionError", "decrypt", "digest", "digests", "encrypt", "reencrypt"]


class DecryptionError(Exception):
    """The stored value cannot be decrypted: altered, or encrypted under another SECRET_KEY."""


@functools.lru_cache(maxsize=64)
def _derive(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None,
        info=f"keystead:{purpose}".encode(),
    ).derive(secret_key.encode())


def _fernet_for(secret_key: str, purpose: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, purpose)))


def _secret_keys() -> list[str]:
    return [settings.SECRET_KEY, *(getattr(settings, "SECRET_KEY_FALLBACKS", None) or [])]


def _keys(purpose: str) -> MultiFernet:
    if not purpose:
        raise ValueError("a purpose label is required")
    return _multi_fernet(tuple(_secret_keys()), purpose)


@functools.lru_cache(maxsize=64)
def _multi_fernet(secret_keys: tuple[str, ...], purpose: str) -> MultiFernet:
    """Built once per set of keys and purpose (a queue worker decrypts one value per
    operation); a rotated SECRET_KEY is another set, so it gets its own."""
    return MultiFernet([_fernet_for(key, purpose) for key in secret_keys])


def encrypt(value: Secret | str | bytes, purpose: str) -> str:
    """Encrypt ``value`` for storage; returns ASCII text fit for a TextField."""
    if isinstance(value, Secret):
        value = value.reveal()
    if isinstance(value, str):
        value = value.encode()
    return _keys(purpose).encrypt(value).decode("ascii")


def decrypt(token: str, purpose: str) -> Secret:
    """The clear value wrapped in a ``Secret`` (so it cannot be logged by accident)."""
    try:
        clear = _keys(purpose).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise DecryptionError(
            f"cannot decrypt a stored {purpose} value: it was changed, or SECRET_KEY changed "
            "without the old key in SECRET_KEY_FALLBACKS") from exc
    return Secret(clear.decode())


def reencrypt(token: str, purpose: str) -> str:
    """The same value encrypted under the current SECRET_KEY (after a key rotation)."""
    try:
        return _keys(purpose).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError(f"cannot decrypt a stored {purpose} value") from exc


def digest(value: Secret | str, purpose: str) -> str:
    """HMAC-SHA256 (hex) of ``value`` under the current purpose key: for storing a
    high-entropy one-time value (a backup code) so it can be found but not read back."""
    return digests(value, purpose)[0]


def digests(value: Secret | str, purpose: str) -> list[str]:
    """``digest`` under the current key and every fallback key, current first."""
    if isinstance(value, Secret):
        value = value.reveal()
    data = value.encode()
    return [hmac.new(_derive(key, f"{purpose}:mac"), data, hashlib.sha256).hexdigest()
            for key in _secret_keys()]
