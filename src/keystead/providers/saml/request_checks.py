"""Checks on an application's request that pysaml2 does not make (or makes too loosely).

- Signatures and digests made with SHA-1 (or MD5, RIPEMD) are refused, by the same rule
  Keystead applies as a service provider (``keystead.saml_algorithms``): pysaml2 and
  xmlsec1 verify them without complaint.
- The request's IssueInstant must be recent: pysaml2 computes a window of a day either
  side and then ignores its own answer. Keystead accepts a request issued at most
  ``MESSAGE_LIFETIME_SECONDS`` plus the clock skew ago, and at most the clock skew in
  the future (Shibboleth's defaults are the same shape: 3 minutes' skew, 3 minutes'
  message lifetime), so a captured request cannot be replayed much later.
"""

from __future__ import annotations

import datetime as dt
import time

from defusedxml import ElementTree

from keystead.providers.saml import idp
from keystead.saml_algorithms import is_weak, weak_signing_algorithm

#: How long after its IssueInstant a request is still answered (plus the clock skew).
MESSAGE_LIFETIME_SECONDS = 180


def weak_signature(xml: str, sigalg: str | None) -> str:
    """Why the request's signature is refused ("" when it is not): ``sigalg`` is the
    HTTP-Redirect binding's SigAlg, ``xml`` the decoded message (an enveloped signature,
    HTTP-POST)."""
    if sigalg and is_weak(sigalg):
        return f"signed with a weak algorithm (SigAlg {sigalg[:100]}); the SP must sign " \
               "with RSA-SHA256"
    try:
        root = ElementTree.fromstring(xml)
    except Exception:  # pysaml2 has already parsed it; nothing more to find here
        return ""
    algorithm = weak_signing_algorithm(root)
    if algorithm is not None:
        return f"signed with a weak algorithm ({algorithm[:100]}); the SP must sign with " \
               "RSA-SHA256 and SHA-256 digests"
    return ""


def issue_instant_problem(issue_instant: str | None, now: float | None = None) -> str:
    """Why a request issued at ``issue_instant`` (xs:dateTime) is not answered now
    ("" when it is)."""
    try:
        parsed = dt.datetime.fromisoformat(str(issue_instant or ""))
    except ValueError:
        return f"IssueInstant {str(issue_instant)[:40]!r} is not a date and time"
    # Core 1.3.3: SAML times are UTC; one written without a zone is read as UTC.
    issued = (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
    now = time.time() if now is None else now
    skew = idp.CLOCK_SKEW_SECONDS
    if issued > now + skew:
        return (f"IssueInstant {issue_instant} is {int(issued - now)} s in the future (more "
                f"than the {skew} s of clock skew accepted): check the SP's clock")
    if issued < now - MESSAGE_LIFETIME_SECONDS - skew:
        return (f"IssueInstant {issue_instant} is {int(now - issued)} s old (at most "
                f"{MESSAGE_LIFETIME_SECONDS + skew} s is accepted): a stale or replayed "
                "request, or the SP's clock is wrong")
    return ""
