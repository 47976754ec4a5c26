"""The RS256 key that signs ID tokens.

Where it lives: a PEM file under the data directory (``oidc_signing_key.pem``,
mode 0600), generated once on first start, like the secret key. A file rather
than a database row encrypted with ``keystead.crypto`` because the key is read
while settings load, before the database is usable, and because every web
process must sign with the same key from its first request; the data directory
is already the place operators back up and protect for ``secret_key``.

Rotation: move the current file into ``oidc_retired_keys/`` (any ``*.pem``
name) and restart; a new key is generated and signs from then on, while the
retired ones stay published in the JWKS so ID tokens they signed still verify.
Delete a retired file once the longest ID-token lifetime has passed.

This module must not import Django: ``settings.py`` calls it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "oidc_signing_key.pem"
RETIRED_DIR = "oidc_retired_keys"


def _generate_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_or_create_signing_key(directory: Path) -> str:
    """The current signing key as PEM, created (mode 0600) if there is none yet.

    Several processes may start at once: the key is written to a private temporary
    file and then hard-linked into place, so exactly one key wins and nobody reads
    a half-written file.
    """
    path = directory / KEY_FILE
    if path.exists():
        return path.read_text()
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{KEY_FILE}.{secrets.token_hex(8)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_generate_pem())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process was first; use its key
    finally:
        temporary.unlink()
    return path.read_text()


def retired_signing_keys(directory: Path) -> list[str]:
    """Keys no longer used for signing but still published in the JWKS."""
    retired = directory / RETIRED_DIR
    if not retired.is_dir():
        return []
    return [p.read_text() for p in sorted(retired.glob("*.pem"))]
