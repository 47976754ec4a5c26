"""Whether a presented refresh token may be exchanged: the rules, without I/O.

RFC 6749 §6 and Keystead's per-application token settings. The grant
(``refresh_grant``) reads the token and the client, this module decides, and
the grant acts on the decision. The order matters and is part of the
contract: a revoked token is reported as *reuse* before anything else is
looked at, because presenting a rotated-out or revoked token is the signal that
the token family leaked (RFC 9700 §4.14.2), and the family must be revoked
even if the token also expired meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Refusal(Enum):
    """Why a refresh is refused: the audit names the reason, the client gets only the code."""

    UNKNOWN = "unknown token"
    OTHER_CLIENT = "token of another client"
    REUSED = "revoked or rotated-out token presented"
    ORPHANED = "token without an access token"
    EXPIRED = "expired"
    ACCOUNT_DISABLED = "account disabled"
    GRANT_NOT_ALLOWED = "grant not allowed for the client"
    SCOPE_WIDENED = "scope wider than granted"

    @property
    def error(self) -> str:
        """The RFC 6749 §5.2 error code."""
        return _ERRORS.get(self, "invalid_grant")

    @property
    def description(self) -> str:
        """What the client is told. An unknown token, another client's and one without its
    access token get the same words: the holder of a guessed or stolen token learns
    nothing from them. Reuse and a disabled account are named, so a legitimate client
    knows it must send the person through sign-in again."""
        return _DESCRIPTIONS.get(self, "The refresh token is not valid.")


_ERRORS = {Refusal.GRANT_NOT_ALLOWED: "unauthorized_client",
           Refusal.SCOPE_WIDENED: "invalid_scope"}
_DESCRIPTIONS = {
    Refusal.REUSED: "The refresh token was used before or revoked; every token from the same "
                    "sign-in is revoked now.",
    Refusal.ACCOUNT_DISABLED: "The account is disabled.",
    Refusal.EXPIRED: "The refresh token has expired.",
    Refusal.GRANT_NOT_ALLOWED: "This client may not use the refresh_token grant (or does "
                               "not use refresh tokens).",
    Refusal.SCOPE_WIDENED: "The requested scope exceeds the scope originally granted.",
}


#: The ``reason`` member of a refused refresh's answer (an extension member, RFC 6749
#: §5.2): stable words a client such as the endpoint agent can tell the person, beside
#: the human ``error_description``. Documented in docs/agent.md; do not rename.
REASON_PASSWORD_CHANGED = "password_changed"
REASON_REVOKED = "revoked"
REASON_ACCOUNT_DISABLED = "account_disabled"
REASON_EXPIRED = "expired"
REASON_APPLICATION_NOT_ALLOWED = "application_not_allowed"


def refusal_reason(refusal: Refusal, *, user_active: bool | None = None,
                   issued: datetime | None = None, revoked: datetime | None = None,
                   password_changed: datetime | None = None) -> str:
    """The ``reason`` a refused refresh names, or "" for none.

    Only the holder of a token Keystead issued to this client learns one: an unknown
    token, another client's and one without its access token name none, as their
    descriptions say the same, so a guessed or stolen value still tells nothing. A
    revoked token is told apart by the stored facts the grant already read (no statement
    more): a disabled account's; a password change's (the password changed after the
    token was made and no later than it was revoked: the change revokes every token of
    the person); any other revocation (an administrator, signing out everywhere, a reused
    token) is ``revoked``.
    """
    if refusal is Refusal.GRANT_NOT_ALLOWED:
        return REASON_APPLICATION_NOT_ALLOWED
    if refusal is Refusal.EXPIRED:
        return REASON_EXPIRED
    if refusal is Refusal.ACCOUNT_DISABLED or (refusal is Refusal.REUSED
                                               and user_active is False):
        return REASON_ACCOUNT_DISABLED
    if refusal is not Refusal.REUSED:
        return ""
    if (password_changed is not None and issued is not None and revoked is not None
            and issued <= password_changed <= revoked):
        return REASON_PASSWORD_CHANGED
    return REASON_REVOKED


@dataclass(frozen=True)
class TokenFacts:
    """What the rules need to know about the presented token, as stored."""

    application_id: int
    revoked: bool
    access_token_expires: datetime | None  # None: its access token is gone
    access_scope: str  # of the access token this refresh replaces
    user_active: bool
    # What the person granted when the family started (``FamilySignIn``); empty for a
    # family that started before Keystead kept it.
    granted_scope: str = ""

    @property
    def original_scope(self) -> str:
        """The scope "originally granted by the resource owner" (RFC 6749 §6): the
        family's first grant, which a narrowing refresh does not change. Families
        from before the grant was kept fall back to the replaced access token's
        scope, so for them a narrowing refresh still narrows every later one."""
        return self.granted_scope or self.access_scope


@dataclass(frozen=True)
class ClientFacts:
    application_id: int
    may_refresh: bool  # grants.grant_allowed("refresh_token", ...): grants and refresh switch
    refresh_lifetime: timedelta | None  # after the access token expires; None: no limit


def decide(token: TokenFacts | None, client: ClientFacts, requested_scope: str | None,
           now: datetime) -> tuple[Refusal | None, str]:
    """(refusal or None, the scope the new tokens get).

    The scope of the new tokens is the requested one when it is given and within
    the original grant (§6: "MUST NOT include any scope not originally granted"),
    otherwise the original scope ("if omitted is treated as equal to the scope
    originally granted"). The original grant is the family's
    (``TokenFacts.original_scope``), not the replaced access token's: after a
    refresh that narrowed the scope, a later one may ask for the rest again.
    """
    if not client.may_refresh:
        return Refusal.GRANT_NOT_ALLOWED, ""
    if token is None:
        return Refusal.UNKNOWN, ""
    if token.application_id != client.application_id:
        return Refusal.OTHER_CLIENT, ""
    if token.revoked:
        return Refusal.REUSED, ""
    if token.access_token_expires is None:
        return Refusal.ORPHANED, ""
    if (client.refresh_lifetime is not None
            and token.access_token_expires + client.refresh_lifetime <= now):
        return Refusal.EXPIRED, ""
    if not token.user_active:
        return Refusal.ACCOUNT_DISABLED, ""
    original = token.original_scope.split()
    if requested_scope is None or not requested_scope.strip():
        return None, " ".join(original)
    requested = requested_scope.split()
    if not set(requested) <= set(original):
        return Refusal.SCOPE_WIDENED, ""
    return None, " ".join(dict.fromkeys(requested))


def live_else_latest(tokens: Iterable):
    """Of refresh-token rows sharing a value: the unrevoked one, else the one revoked
    last; None if there are none."""
    return max(tokens, default=None, key=lambda token: (
        token.revoked is None, token.revoked.timestamp() if token.revoked else 0.0))
