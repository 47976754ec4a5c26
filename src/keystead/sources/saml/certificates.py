"""Checking an identity provider's signing certificate before it is saved.

Pure functions over text and a clock: no database, no network, so the console,
the metadata import and the tests share one judgement. Operators paste these
certificates by hand, so each message names the exact slip (the BEGIN/END
lines, the count of dashes, the base64 body) and what to do about it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from dataclasses import dataclass, field

from cryptography import x509

BEGIN = "-----BEGIN CERTIFICATE-----"
END = "-----END CERTIFICATE-----"
EXPIRY_WARNING_DAYS = 30

_BEGIN_ANY = re.compile(r"(-*)\s*BEGIN CERTIFICATE\s*(-*)")
_END_ANY = re.compile(r"(-*)\s*END CERTIFICATE\s*(-*)")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


@dataclass(frozen=True)
class Checked:
    """The certificates found (DER, in the order pasted), what refuses the text, and
    what only deserves a warning (expiring soon)."""

    certificates: tuple[bytes, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.certificates)


def _dash_problem(line: str, which: str, number: int) -> str | None:
    pattern = _BEGIN_ANY if which == "BEGIN" else _END_ANY
    found = pattern.search(line)
    if found is None:
        return None
    before, after = len(found.group(1)), len(found.group(2))
    if before != 5 or after != 5:
        return (f"Certificate {number}: the {which} line has {before} dashes before and "
                f"{after} after {which} CERTIFICATE; it must be exactly "
                f"{BEGIN if which == 'BEGIN' else END} (five dashes on each side).")
    return None


def _blocks(text: str) -> tuple[list[str], list[str]]:
    """The base64 bodies between BEGIN and END lines, and the framing mistakes found."""
    errors: list[str] = []
    bodies: list[str] = []
    lines = [line.strip() for line in text.strip().splitlines()]
    current: list[str] | None = None
    number = 0
    for line in lines:
        if "BEGIN CERTIFICATE" in line:
            number += 1
            if (problem := _dash_problem(line, "BEGIN", number)) is not None:
                errors.append(problem)
            if current is not None:
                errors.append(f"Certificate {number - 1} has no {END} line before the next "
                              "BEGIN line; add it.")
            current = []
        elif "END CERTIFICATE" in line:
            if (problem := _dash_problem(line, "END", max(number, 1))) is not None:
                errors.append(problem)
            if current is None:
                errors.append(f"An {END} line has no {BEGIN} line before it; add the BEGIN "
                              "line above the certificate's text.")
            else:
                bodies.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
        elif line and number == 0:
            errors.append(f"The certificate must start with the line {BEGIN}; it is "
                          "missing. Paste the whole certificate including its BEGIN and "
                          "END lines.")
            return bodies, errors
    if current is not None:
        errors.append(f"Certificate {number} has no {END} line; paste the whole certificate "
                      "including its last line.")
    return bodies, errors


def check_certificates(text: str, now: datetime.datetime) -> Checked:
    """Judge one or more PEM certificates (several during a signing-key rollover)."""
    if not text.strip():
        return Checked(errors=("The IdP signing certificate is empty: paste the X.509 "
                               "certificate your identity provider signs with, from "
                               f"{BEGIN} to {END}.",))
    bodies, errors = _blocks(text)
    if not bodies and not errors:
        errors.append(f"No certificate found: the text must start with {BEGIN} and end with "
                      f"{END}.")
    ders: list[bytes] = []
    warnings: list[str] = []
    for number, body in enumerate(bodies, start=1):
        if not _BASE64.fullmatch(body):
            errors.append(f"Certificate {number} is not base64: between the BEGIN and END "
                          "lines only letters, digits, +, / and = may appear. Copy it again "
                          "from the identity provider without changing it.")
            continue
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            errors.append(f"Certificate {number} is not base64 (its length or padding is "
                          "wrong, perhaps a line was lost); copy it again.")
            continue
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            errors.append(f"Certificate {number} is not an X.509 certificate (perhaps a key "
                          "or a certificate request was pasted); paste the IdP's signing "
                          "certificate.")
            continue
        expires = cert.not_valid_after_utc
        if expires <= now:
            errors.append(f"Certificate {number} ({_subject(cert)}) expired on "
                          f"{expires:%Y-%m-%d}; ask the identity provider's administrators "
                          "for its current signing certificate.")
            continue
        if cert.not_valid_before_utc > now:
            errors.append(f"Certificate {number} ({_subject(cert)}) is valid only from "
                          f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the clocks "
                          "or wait until then.")
            continue
        if expires - now < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
            days = (expires - now).days
            warnings.append(f"Certificate {number} ({_subject(cert)}) expires within "
                            f"{EXPIRY_WARNING_DAYS} days (on {expires:%Y-%m-%d}, in {days} "
                            "day(s)); add the identity provider's next certificate before "
                            "then.")
        ders.append(der)
    return Checked(tuple(ders), tuple(errors), tuple(warnings))


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "no subject"


def pem_of(der: bytes) -> str:
    """One certificate in PEM, 64 characters a line."""
    body = base64.b64encode(der).decode()
    return "\n".join([BEGIN, *(body[i:i + 64] for i in range(0, len(body), 64)), END])


def base64_of(der: bytes) -> str:
    """The certificate as metadata's X509Certificate element carries it."""
    return base64.b64encode(der).decode()
