"""Why a directory's TLS certificate was refused, in words an operator can act on.

libldap reports every verification failure as the same "connect error", so
after a failed handshake we connect once more without verification, read the
server's certificate (python-ldap's ``OPT_X_TLS_PEERCERT``) and examine it
with ``cryptography``: expired, not issued for the address used, or not
signed by the CA the operator gave. The connection made for this is closed
at once and nothing is sent over it but the handshake (and StartTLS).
"""

from __future__ import annotations

import datetime
import ipaddress
from contextlib import suppress

import ldap
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID


def fetch_peer_certificate(url: str, *, starttls: bool, timeout: float) -> x509.Certificate | None:
    """The server's certificate, read over an unverified handshake, or None if unavailable."""
    conn = ldap.initialize(url)
    try:
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
        conn.set_option(ldap.OPT_TIMEOUT, timeout)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_ALLOW)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        if starttls:
            conn.start_tls_s()
        else:
            conn.search_ext_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
        der = conn.get_option(ldap.OPT_X_TLS_PEERCERT)
    except ldap.LDAPError:
        return None
    finally:
        with suppress(ldap.LDAPError):
            conn.unbind_ext_s()
    return x509.load_der_x509_certificate(der) if der else None


def _names(cert: x509.Certificate) -> list[str]:
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [*alt.get_values_for_type(x509.DNSName),
                *(str(ip) for ip in alt.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _matches(host: str, names: list[str]) -> bool:
    try:
        wanted = str(ipaddress.ip_address(host))
        return wanted in names
    except ValueError:
        pass
    host = host.lower().rstrip(".")
    for name in (n.lower() for n in names):
        if name == host:
            return True
        if name.startswith("*.") and host.partition(".")[2] == name[2:]:
            return True
    return False


def _signed_by(cert: x509.Certificate, ca_pem: str) -> bool:
    try:
        cas = x509.load_pem_x509_certificates(ca_pem.encode())
    except ValueError:
        return False
    for ca in cas:
        if ca.subject != cert.issuer and ca.subject != cert.subject:
            continue
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except (ValueError, TypeError, InvalidSignature):
            if ca.fingerprint(ca.signature_hash_algorithm) == cert.fingerprint(
                    cert.signature_hash_algorithm):
                return True
    return False


def explain_refusal(cert: x509.Certificate, *, host: str, ca_pem: str) -> str | None:
    """What is wrong with ``cert`` for ``host`` under ``ca_pem``; None if nothing we can see."""
    now = datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < now:
        return (f"the server's certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}. "
                "Renew the certificate on the directory server.")
    if cert.not_valid_before_utc > now:
        return (f"the server's certificate is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d}. Check the clocks of both hosts.")
    if ca_pem.strip() and not _signed_by(cert, ca_pem):
        return ("the server's certificate (issued by "
                f"{cert.issuer.rfc4514_string()}) is not signed by the trusted CA "
                "(unknown CA). Paste the CA certificate that issued it into 'CA certificate'.")
    if not ca_pem.strip():
        return ("no CA certificate is set and the system's CAs do not trust the server's "
                f"certificate (issued by {cert.issuer.rfc4514_string()}). Paste the CA "
                "certificate that issued it into 'CA certificate'.")
    names = _names(cert)
    if not _matches(host, names):
        return (f"the server's certificate is for {', '.join(names) or 'no name'}, not "
                f"{host!r} (hostname mismatch). Use one of those names as the server address.")
    return None
