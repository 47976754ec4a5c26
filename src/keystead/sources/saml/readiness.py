"""Whether the SAML login strategy may be chosen: the one answer
``policy.strategies`` asks for."""

from __future__ import annotations

NO_SAML = "SAML sign-in is not configured yet: add a SAML identity provider first."


def missing() -> str | None:
    """What is missing before the whole installation may sign in through SAML: an enabled
    identity provider with its entity id, SSO address, a valid certificate and an SP key."""
    from keystead.sources.saml.configuration import missing as source_missing
    from keystead.sources.saml.models import SamlSource

    source = SamlSource.active()
    if source is None:
        return NO_SAML
    return source_missing(source)
