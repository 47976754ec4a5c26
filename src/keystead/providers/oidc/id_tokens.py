"""Signing ID tokens: which key and algorithm an application's tokens get, and the JWS.

Used by the toolkit's validator (code and password grants) and by the lean
refresh grant, so both sign the same way: ES256 with the EC key when the
application's token settings ask for it, otherwise RS256 with the RSA key,
parsed once per process (``signing``). The header carries the key's RFC 7638
thumbprint as ``kid``, which the JWKS publishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from jwcrypto import jwk, jwt
from oauth2_provider.settings import oauth2_settings

from keystead.providers.oidc import signing
from keystead.providers.oidc.models import settings_for


def signing_key(application) -> tuple[jwk.JWK, str] | None:
    """The key and algorithm for ``application``'s ID tokens, or None if it signs none
    of Keystead's ways (left to the toolkit, which refuses HS256 with hashed secrets)."""
    if settings_for(application).id_token_algorithm == "ES256":
        return signing.current_key(), "ES256"
    if application.algorithm == application.RS256_ALGORITHM:
        return signing.rsa_signing_key(oauth2_settings.OIDC_RSA_PRIVATE_KEY), "RS256"
    return None


def sign(claims: dict[str, Any], application) -> str:
    """The compact JWS of ``claims`` with ``application``'s key."""
    found = signing_key(application)
    if found is None:
        raise ValueError("the application has no ID-token signing algorithm (RS256 or ES256)")
    key, algorithm = found
    token = jwt.JWT(header=json.dumps({"typ": "JWT", "alg": algorithm, "kid": key.thumbprint()}),
                    claims=json.dumps(claims, default=str))
    token.make_signed_token(key)
    return token.serialize()


def at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6: left half of the SHA-256 of the access token, base64url.

    (SHA-256 for both RS256 and ES256, the two algorithms Keystead signs with.)
    """
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
