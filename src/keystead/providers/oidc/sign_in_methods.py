"""How the person signed in, as an ID token states it: ``amr`` (RFC 8176) and ``acr``.

Decided once, at the authorization endpoint, from the browser session that asks
for the code (``of_session``), and then carried with the code (``IssuedCode.amr``)
and the token family (``FamilySignIn.amr``): a refreshed ID token states the
original sign-in's methods (OpenID Connect Core §12.2), never a later one's.

Stored as the ``amr`` values separated by spaces; empty means unknown (a family
that started before they were kept), and then neither claim is stated.

The values (RFC 8176 §2):

- ``pwd``: a password, Keystead's own or the directory's (LDAP). A sign-in that
  passed no second factor in this session (including one a remembered browser
  let skip it) is stated as ``["pwd"]`` and nothing more.
- After the password, a second factor adds ``mfa`` and the factor's own value:
  ``otp`` for an authenticator app (RFC 6238) and for an emailed code; backup
  codes are ``otp`` too, as each is a one-time password the person holds (RFC 8176
  names no closer value). A passkey as the second factor is ``swk``.
- A passwordless passkey sign-in is ``["swk", "mfa"]``: proof of possession of a
  key plus the authenticator's user verification (a PIN or a biometric, which
  Keystead requires for it, so it is multi-factor by itself). ``swk`` rather than
  ``hwk`` because Keystead asks for no attestation, so it cannot know the key is
  hardware-bound (synced passkeys are not); ``mfa`` rather than ``pin`` or ``fpt``
  because the relying party cannot tell which kind of verification was used.
- A second factor the session passed whose method cannot be read back: ``["mfa"]``.

``acr`` is the REFEDS MFA profile (the same constant the SAML assertions state,
``saml.authn_context.REFEDS_MFA``) when ``mfa`` is among them; otherwise it is left
out: Keystead claims no assurance class for a password alone (OIDC's ``acr`` is
optional, and ``"0"`` would say less than the truth).

Which factor a session's sign-in passed is what the sign-in noted in the session
(``second_step.second_factor_method``, which also judges that it belongs to this
sign-in and not an earlier one), so deciding costs no query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest

from keystead.login.second_step import PASSWORDLESS_PASSKEY, second_factor_method
from keystead.providers.saml.authn_context import REFEDS_MFA

#: ``second_step.succeed``'s method names and their RFC 8176 value.
FACTOR_AMR = {"totp": "otp", "email": "otp", "backup": "otp", "passkey": "swk"}
PASSWORD_ONLY = ("pwd",)


def amr_for(method: str | None) -> tuple[str, ...]:
    """The ``amr`` values of a sign-in whose second factor was ``method`` (None: none;
    ``""``: one whose method was not noted)."""
    if method is None:
        return PASSWORD_ONLY
    if method in FACTOR_AMR:
        return ("pwd", FACTOR_AMR[method], "mfa")
    if method == PASSWORDLESS_PASSKEY:
        return ("swk", "mfa")  # a passkey alone, its user verification required
    return ("mfa",)


def of_session(request: HttpRequest, signed_in_at: datetime | None) -> str:
    """The stored form of this browser session's sign-in methods (``""``: unknown, the
    session's sign-in time is)."""
    if signed_in_at is None:
        return ""
    return " ".join(amr_for(second_factor_method(request, signed_in_at)))


def claims(stored: str | None) -> dict[str, Any]:
    """The ID token's ``amr`` and ``acr`` for the stored form; none when unknown."""
    values = (stored or "").split()
    if not values:
        return {}
    stated: dict[str, Any] = {"amr": values}
    if "mfa" in values:
        stated["acr"] = REFEDS_MFA
    return stated
