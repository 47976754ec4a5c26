"""Whether the SAML login strategy may be chosen: the one answer
``policy.strategies`` asks for."""

from __future__ import annotations

NO_SAML = "SAML sign-in is not configured yet: add a SAML identity provider first."


def missing() -> str | None:
    """What is missing before the whole installation may sign in through SAML."""
    return NO_SAML  # the SAML source fills this in
