"""How the agent signs its requests to Keystead, and how Keystead checks them.

After enrolment every agent request carries four headers: the device id, the
time (Unix seconds), a random one-time nonce and an Ed25519 signature over the
method, the path, that time, the nonce and the SHA-256 of the body. Keystead
accepts each nonce once within the time window, so a captured request cannot be
replayed. The private key never leaves the computer;
Keystead keeps the public key from enrolment. One definition, imported by both
sides, so they cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEVICE_HEADER = "X-Keystead-Device"
TIME_HEADER = "X-Keystead-Time"
SIGNATURE_HEADER = "X-Keystead-Signature"
NONCE_HEADER = "X-Keystead-Nonce"
#: What a nonce looks like: 16 to 64 URL-safe base64 characters (``new_nonce`` makes 22).
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: A signed request older or newer than this (seconds) is refused: it may be replayed.
MAX_SKEW = 300


def new_nonce() -> str:
    """A fresh one-time value for one request (128 random bits)."""
    return secrets.token_urlsafe(16)


def message(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The bytes that are signed: what the request does, when, once, and with what body."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the device key is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    """The public key sent at enrolment; ValueError if it is not an Ed25519 PEM key."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key must be an Ed25519 key in PEM form")
    return key


def sign(key: Ed25519PrivateKey, method: str, path: str, timestamp: int, nonce: str,
         body: bytes) -> str:
    raw = key.sign(message(method, path, timestamp, nonce, body))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify(public: Ed25519PublicKey, signature: str, method: str, path: str, timestamp: int,
           nonce: str, body: bytes) -> bool:
    if not NONCE.match(nonce):
        return False
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public.verify(raw, message(method, path, timestamp, nonce, body))
    except (InvalidSignature, ValueError):
        return False
    return True
