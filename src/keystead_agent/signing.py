"""How the agent signs its requests to Keystead, and how Keystead checks them.

After enrolment every agent request carries four headers: the device id, the
time (Unix seconds), a random one-time nonce and an Ed25519 signature over every
part of the request that decides what Keystead does with it: the device id, the
method, the path with its query, that time, the nonce and the SHA-256 of the body.
The device id is signed too: Keystead looks the key up by it and keeps nonces per
device, so a signature that did not cover it could be sent again under another
device's id wherever two devices shared a key. Keystead accepts each nonce once
within the time window, so a captured request cannot be replayed. The private key
never leaves the computer; Keystead keeps the public key from enrolment. One
definition, imported by both sides, so they cannot drift apart.
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


#: The first line of the signed text: names what is signed and how, so a signature made
#: for anything else (or by an older agent, whose text did not name the device) never
#: verifies as a device request.
VERSION = "keystead-device-request-v2"


def message(device_id: int, method: str, target: str, timestamp: int, nonce: str,
            body: bytes) -> bytes:
    """The bytes that are signed: which device asks, what the request does (method, and
    ``target``: the path with any ``?query``), when, once, and with what body. One field
    a line; none can hold a line break (an id, a method, a URL target, numbers, a nonce
    of ``NONCE``'s alphabet, a hex digest), so no two requests give the same text."""
    digest = hashlib.sha256(body).hexdigest()
    return (f"{VERSION}\n{int(device_id)}\n{method.upper()}\n{target}\n{timestamp}\n"
            f"{nonce}\n{digest}").encode()


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


def canonical_public_pem(pem: str) -> str:
    """``pem``'s key written the one way ``public_pem`` writes it, so one key is one text
    however it was wrapped or spaced (Keystead keeps each key once); ValueError as
    ``load_public``."""
    return load_public(pem).public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo
                                         ).decode()


def target_of(path: str, query: str = "") -> str:
    """The request target that is signed: the path, and ``?query`` when there is one."""
    return f"{path}?{query}" if query else path


def sign(key: Ed25519PrivateKey, method: str, target: str, timestamp: int, nonce: str,
         body: bytes, *, device_id: int) -> str:
    raw = key.sign(message(device_id, method, target, timestamp, nonce, body))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def verify(public: Ed25519PublicKey, signature: str, method: str, target: str,
           timestamp: int, nonce: str, body: bytes, *, device_id: int) -> bool:
    """Whether ``signature`` is the device key's over exactly this request, sent as
    ``device_id``."""
    if not NONCE.match(nonce) or any(c in target or c in method for c in "\r\n"):
        return False
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public.verify(raw, message(device_id, method, target, timestamp, nonce, body))
    except (InvalidSignature, ValueError):
        return False
    return True
