"""Signing ID tokens: which key and algorithm an application's tokens get, and the JWS.

Used by the toolkit's validator (``KeysteadValidator.finalize_id_token``) for
the code grant and by Keystead's refresh grant (``refresh_grant``): ES256 with the EC key when the
application's token settings ask for it, otherwise RS256 with the RSA key,
parsed once per process (``signing``). The header carries the key's RFC 7638
thumbprint as ``kid``, which the JWKS publishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import Any

from oauth2_provider.settings import oauth2_settings

from keystead.providers.oidc import signing


def signing_key(algorithm: str, id_token_algorithm: str) -> signing.SigningKey | None:
    """The key for an application's ID tokens, from its ``algorithm`` and its token
    settings' ``id_token_algorithm``; None if it signs none of Keystead's ways (left to
    the toolkit, which refuses HS256 with hashed secrets)."""
    if id_token_algorithm == "ES256":
        return signing.current_signing_key()
    if algorithm == "RS256":
        return signing.rsa_key_for_signing(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    return None


def sign(claims: dict[str, Any], *, algorithm: str, id_token_algorithm: str,
         typ: str = "JWT") -> str:
    """The compact JWS (RFC 7515 §7.1) of ``claims`` with the application's key; ``typ``
    the header's type (``logout+jwt`` for back-channel logout tokens).

    Signed with ``cryptography`` directly: jwcrypto deep-copies the key on every
    signature, which cost as much CPU as the RSA operation itself.
    """
    key = signing_key(algorithm, id_token_algorithm)
    if key is None:
        raise ValueError("the application has no ID-token signing algorithm (RS256 or ES256)")
    payload = _b64(json.dumps(claims, separators=(",", ":"), default=str).encode())
    signing_input = _header(key.algorithm, key.kid, typ) + b"." + payload
    return (signing_input + b"." + _b64(key.sign(signing_input))).decode("ascii")


def at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256, base64url.
    SHA-256 for both RS256 and ES256, the two algorithms Keystead signs with."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64(digest[:16]).decode("ascii")


@cache
def _header(algorithm: str, kid: str, typ: str) -> bytes:
    """The encoded JWS header, the same for every token of one type a key signs."""
    header = {"typ": typ, "alg": algorithm, "kid": kid}
    return _b64(json.dumps(header, separators=(",", ":")).encode())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
