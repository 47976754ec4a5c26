"""What the sign-in page needs to offer "Sign in with <IdP>"."""

from __future__ import annotations

from keystead.sources.saml.models import SamlSource


def offer() -> dict[str, str] | None:
    """The enabled identity provider's name for the button, or None when there is none."""
    source = SamlSource.objects.filter(enabled=True).only("name").first()
    return {"name": source.name} if source is not None else None
