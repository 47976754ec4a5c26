"""The keys that sign ID tokens: RS256 (every application) and ES256 (applications set to it).

Where it lives: a PEM file under the data directory (``oidc_signing_key.pem``,
mode 0600), generated once on first start, like the secret key. A file rather
than a database row encrypted with ``keystead.crypto`` because the key is read
while settings load, before the database is usable, and because every web
process must sign with the same key from its first request; the data directory
is already the place operators back up and protect for ``secret_key``.

The ES256 key (EC P-256) lives beside it as ``oidc_signing_key_es256.pem``,
created the same way the first time it is needed.

Rotation: ``keystead oidc rotate-key`` (or by hand: move the current file into
``oidc_retired_keys/`` under any ``*.pem`` name) and restart every web
process; a new key is generated and signs from then on, while the retired ones
stay published in the JWKS so ID tokens they signed still verify. Retired RSA
and EC keys share the directory; each is recognised by its type. Delete a
retired file once the longest ID-token lifetime has passed.

This module must not import Django: ``settings.py`` calls it.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

KEY_FILE = "oidc_signing_key.pem"
EC_KEY_FILE = "oidc_signing_key_es256.pem"
RETIRED_DIR = "oidc_retired_keys"
RS256, ES256 = "RS256", "ES256"
_FILES = {RS256: KEY_FILE, ES256: EC_KEY_FILE}


def _generate_pem(algorithm: str = RS256) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == ES256:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _algorithm_of(pem: str) -> str | None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return RS256
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return ES256
    return None


def load_or_create_signing_key(directory: Path, algorithm: str = RS256) -> str:
    """The current signing key as PEM, created (mode 0600) if there is none yet.

    Several processes may start at once: the key is written to a private temporary
    file and then hard-linked into place, so exactly one key wins and nobody reads
    a half-written file.
    """
    name = _FILES[algorithm]
    path = directory / name
    if path.exists():
        return path.read_text()
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.{secrets.token_hex(8)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_generate_pem(algorithm))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process was first; use its key
    finally:
        temporary.unlink()
    return path.read_text()


def retired_signing_keys(directory: Path, algorithm: str = RS256) -> list[str]:
    """Keys of ``algorithm`` no longer used for signing but still published in the JWKS."""
    retired = directory / RETIRED_DIR
    if not retired.is_dir():
        return []
    pems = [p.read_text() for p in sorted(retired.glob("*.pem"))]
    return [pem for pem in pems if _algorithm_of(pem) == algorithm]


def rotate_signing_key(directory: Path, algorithm: str = RS256) -> tuple[Path | None, str]:
    """Retire the current key of ``algorithm`` and create a new one.

    Returns the retired file (None if there was no key yet) and the new key's PEM.
    Processes already running keep signing with the key they loaded until they
    restart; the retired key stays published, so their tokens still verify.
    """
    path = directory / _FILES[algorithm]
    retired_path = None
    if path.exists():
        retired = directory / RETIRED_DIR
        retired.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        retired_path = retired / f"{algorithm.lower()}-{stamp}-{secrets.token_hex(4)}.pem"
        os.replace(path, retired_path)
    return retired_path, load_or_create_signing_key(directory, algorithm)
