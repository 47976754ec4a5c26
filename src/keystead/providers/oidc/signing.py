"""ES256 ID tokens, next to django-oauth-toolkit's RS256 ones.

DOT 3.4 signs with ``Application.jwk_key``, which knows only RS256 and HS256
(the ``algorithm`` column has just those choices). Rather than swapping DOT's
application model, an application is switched to ES256 in Keystead's own
token settings (``ClientSettings.id_token_algorithm``); the validator signs
its ID tokens with the EC P-256 key from the data directory, and the JWKS
publishes that key (and retired ones) with ``alg: ES256`` and its ``kid``.

Like the RSA key, the EC key is read once per process: after a rotation,
restart every web process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from jwcrypto import jwk

from keystead.providers.oidc import keys


@cache
def current_key() -> jwk.JWK:
    """The EC P-256 key that signs ES256 ID tokens (created on first use)."""
    return jwk.JWK.from_pem(keys.load_or_create_signing_key(settings.DATA_DIR, keys.ES256).encode())


@cache
def retired_keys() -> tuple[jwk.JWK, ...]:
    return tuple(jwk.JWK.from_pem(pem.encode())
                 for pem in keys.retired_signing_keys(settings.DATA_DIR, keys.ES256))


@cache
def verification_keys() -> jwk.JWKSet:
    """Current and retired ES256 keys, each with its ``kid``, for verifying our own tokens
    (built once per process: the toolkit reads back every ID token it stores)."""
    key_set = jwk.JWKSet()
    for key in (current_key(), *retired_keys()):
        public = {**json.loads(key.export_public()), "kid": key.thumbprint()}
        key_set.add(jwk.JWK(**public))
    return key_set


@cache
def rsa_signing_key(pem: str) -> jwk.JWK:
    """The RS256 key parsed once per process.

    DOT's ``Application.jwk_key`` parses the PEM on every ID token it signs, and
    parsing (with the key checks of ``cryptography``) costs about 30 ms of CPU:
    the largest cost of a refresh grant. Keyed by the PEM, so a rotation (a new
    PEM in the settings) is picked up without clearing anything.
    """
    return jwk.JWK.from_pem(pem.encode())


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign JWS: its algorithm, ``kid`` and ``cryptography`` object."""

    algorithm: str  # "RS256" or "ES256"
    kid: str  # RFC 7638 thumbprint, as the JWKS publishes it
    private: Any

    def sign(self, signing_input: bytes) -> bytes:
        if self.algorithm == "RS256":
            return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        # ES256 (RFC 7518 §3.4): r and s as two 32-byte big-endian numbers, not DER.
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@cache
def current_signing_key() -> SigningKey:
    """The ES256 key, parsed and thumbprinted once per process."""
    key = current_key()
    return SigningKey("ES256", key.thumbprint(), key.get_op_key("sign"))


@cache
def rsa_key_for_signing(pem: str) -> SigningKey:
    """The RS256 key of this PEM, parsed and thumbprinted once per process."""
    key = rsa_signing_key(pem)
    return SigningKey("RS256", key.thumbprint(), key.get_op_key("sign"))


def rsa_verification_keys() -> jwk.JWKSet:
    """Current and retired RS256 keys (as django-oauth-toolkit loaded them), with ``kid``."""
    from oauth2_provider.settings import oauth2_settings

    return _rsa_key_set((oauth2_settings.OIDC_RSA_PRIVATE_KEY,
                         *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE))


@cache
def _rsa_key_set(pems: tuple[str, ...]) -> jwk.JWKSet:
    """The public halves of these PEMs, built once per process (keyed by the PEMs, so new
    keys in the settings are picked up)."""
    key_set = jwk.JWKSet()
    for pem in pems:
        key = rsa_signing_key(pem)
        key_set.add(jwk.JWK(**{**json.loads(key.export_public()), "kid": key.thumbprint()}))
    return key_set


def published_keys() -> list[dict]:
    """The public halves, as JWKS entries."""
    return [{**json.loads(key.export_public()), "alg": keys.ES256, "use": "sig",
             "kid": key.thumbprint()}
            for key in (current_key(), *retired_keys())]


def reset() -> None:
    """Forget the loaded keys (tests; a rotation in this process)."""
    for cached in (current_key, current_signing_key, retired_keys, verification_keys,
                   rsa_signing_key, rsa_key_for_signing, _rsa_key_set):
        cached.cache_clear()
