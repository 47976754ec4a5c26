"""Whether this Keystead can offer passkeys at all, for the pages that show them.

WebAuthn binds a passkey to a domain name, so on an IP base address (the
default ``http://127.0.0.1:8000``) no browser will make or use one. The person
at the sign-in page cannot fix that, so the pages simply leave passkeys out;
the operator learns why from ``docs/passkeys.md`` (and the JSON endpoints,
which still answer with the operator's explanation).
"""

from __future__ import annotations

from keystead.login import passkeys


def passkeys_possible() -> bool:
    """True when the base URL has a host name a passkey can be bound to.

    Asks ``passkeys.rp_id`` itself, so the pages and the ceremonies follow one rule."""
    try:
        passkeys.rp_id()
    except passkeys.PasskeyError:
        return False
    return True
