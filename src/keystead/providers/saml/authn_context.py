"""Which authentication context class an assertion states, and whether a request's
<RequestedAuthnContext> can be met (SAML Core 3.3.2.2.1).

A Keystead sign-in is at least a password over HTTPS (``PasswordProtectedTransport``).
A sign-in that also passed a second factor (or a passkey, multi-factor by itself) is
stated as the REFEDS MFA profile, the class research and education federations and
most SaaS SPs ask for. Plain values in, plain values out: no request, no database.
"""

from __future__ import annotations

from dataclasses import dataclass

from saml2.saml import AUTHN_PASSWORD, AUTHN_PASSWORD_PROTECTED

PASSWORD_PROTECTED = AUTHN_PASSWORD_PROTECTED
#: https://refeds.org/profile/mfa: more than one factor, of different kinds, in this sign-in.
REFEDS_MFA = "https://refeds.org/profile/mfa"

#: The standard authentication context classes weaker than ``PASSWORD_PROTECTED``.
WEAKER_CLASSES = frozenset({
    AUTHN_PASSWORD,
    "urn:oasis:names:tc:SAML:2.0:ac:classes:InternetProtocol",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:InternetProtocolPassword",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
})


@dataclass(frozen=True)
class Decision:
    """The class to state (``""``: none, the request cannot be met, ``reason`` says why)."""

    class_ref: str
    reason: str = ""


def _at_least(stated: str, listed: str) -> bool:
    """Whether a sign-in stated as ``stated`` is at least as strong as ``listed``."""
    if stated == REFEDS_MFA:
        return listed in (REFEDS_MFA, PASSWORD_PROTECTED) or listed in WEAKER_CLASSES
    return listed == PASSWORD_PROTECTED or listed in WEAKER_CLASSES


def _at_most(stated: str, listed: str) -> bool:
    """Whether ``stated`` is no stronger than ``listed``. A class Keystead does not know is
    taken to be at least a password over HTTPS, never to be at least MFA."""
    if stated == REFEDS_MFA:
        return listed == REFEDS_MFA
    return listed not in WEAKER_CLASSES


def _stronger(stated: str, listed: str) -> bool:
    return _at_least(stated, listed) and stated != listed


def decide(requested_classes: list[str] | None, comparison: str = "exact", *,
           second_factor: bool) -> Decision:
    """The class to state for a sign-in (``second_factor``: it passed one).

    ``requested_classes``: the <AuthnContextClassRef>s asked for, None when the request
    has no <RequestedAuthnContext> (declaration references alone are an empty list, and
    are never met). The strongest class the sign-in has that meets the comparison is
    chosen: ``exact`` lists it, ``minimum`` it is at least one listed, ``maximum`` it is no
    stronger than one listed, ``better`` it is stronger than every one listed.
    """
    have = [REFEDS_MFA, PASSWORD_PROTECTED] if second_factor else [PASSWORD_PROTECTED]
    if requested_classes is None:
        return Decision(have[0])
    comparison = (comparison or "exact").strip()
    classes = [c.strip() for c in requested_classes]
    if comparison == "better":
        met = [s for s in have if classes and all(_stronger(s, c) for c in classes)]
    elif comparison == "minimum":
        met = [s for s in have if any(_at_least(s, c) for c in classes)]
    elif comparison == "maximum":
        met = [s for s in have if any(_at_most(s, c) for c in classes)]
    else:  # exact: the first listed (the SP's preference) that this sign-in has
        met = [c for c in classes if c in have]
    if met:
        return Decision(met[0])
    asked = ", ".join(classes) or "authentication context declarations"
    return Decision("", f"RequestedAuthnContext ({comparison}) {asked[:200]} is not met by "
                        f"{' or '.join(have)}")


def can_ever_meet(requested_classes: list[str] | None, comparison: str = "exact") -> bool:
    """Whether any Keystead sign-in (at best one with a second factor) could meet it:
    when not, the SP is told at once, before anyone is asked to sign in."""
    return bool(decide(requested_classes, comparison, second_factor=True).class_ref)
