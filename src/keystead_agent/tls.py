"""How the agent trusts Keystead's certificate, and what it says when it cannot.

By default the system's and certifi's usual authorities (httpx's default); ``ca_file`` in
the configuration names a PEM bundle instead, for an installation with its own CA. When
verification fails, OpenSSL's verify code says why; ``explain`` turns it into what an
administrator must fix.
"""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

# OpenSSL X509_V_ERR_* codes (stable across OpenSSL versions).
_EXPIRED, _NOT_YET_VALID = 10, 9
_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN, _NO_ISSUER, _NO_LEAF_ISSUER = 18, 19, 20, 21
_HOSTNAME = 62
_UNKNOWN_CA = (_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN, _NO_ISSUER, _NO_LEAF_ISSUER)


#: Where plain http is allowed: this computer only (what travels there never crosses a network).
LOOPBACK = "this computer only: 127.0.0.0/8, ::1 or localhost"


def encrypted_or_local(url: str) -> bool:
    """Whether the agent may send passwords and tokens to ``url``: https, or plain http to
    a loopback address (127.0.0.0/8, ::1, localhost). Anything else (plain http to another
    computer, another scheme, no address at all) is refused."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed [ in an IPv6 address
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return bool(host)
    if scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def verify(ca_file: str) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` gets: the named bundle, or the default trust."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def verification_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind an httpx error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def explain(error: ssl.SSLCertVerificationError, host: str) -> str:
    """One line naming the TLS failure and its fix."""
    code, said = error.verify_code, error.verify_message
    if code == _EXPIRED:
        return (f"Keystead's certificate has expired ({said}): renew the certificate on "
                "the server")
    if code == _NOT_YET_VALID:
        return (f"Keystead's certificate is not valid yet ({said}): check this computer's "
                "clock, or the certificate's start date")
    if code == _HOSTNAME:
        return (f"Keystead's certificate is not for the name {host} ({said}): use the name "
                "on the certificate in 'server', or get a certificate for this name")
    if code in _UNKNOWN_CA:
        return (f"Keystead's certificate is signed by a certificate authority this computer "
                f"does not trust ({said}): set 'ca_file' in the configuration to that CA's "
                "certificate, or use a certificate from a trusted authority")
    return f"the certificate was refused ({said}, OpenSSL code {code})"
