"""The branding as templates and mails read it: one small query, a frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse

from keystead.branding.models import DEFAULT_ACCENT, DEFAULT_NAME, BrandSetting

_REQUEST_ATTRIBUTE = "_keystead_brand"


@dataclass(frozen=True)
class Brand:
    """What people see: the product name, accent colour, sign-in message and logo."""

    name: str
    accent: str
    message: str
    has_logo: bool
    logo_url: str
    theme_url: str


def _load() -> Brand:
    row = (BrandSetting.objects.filter(pk=1)
           .values("name", "accent", "message", "logo_type", "version").first())
    if row is None:
        row = {"name": DEFAULT_NAME, "accent": DEFAULT_ACCENT, "message": "", "logo_type": "",
               "version": 0}
    version = row["version"]
    has_logo = bool(row["logo_type"])
    return Brand(
        name=row["name"], accent=row["accent"], message=row["message"], has_logo=has_logo,
        logo_url=f"{reverse('branding:logo')}?v={version}" if has_logo else "",
        theme_url=f"{reverse('branding:theme')}?v={version}",
    )


def current(request: HttpRequest | None = None) -> Brand:
    """The branding now; with a request, read once and kept on it for the rest of it
    (the bytes of the logo are never read here)."""
    if request is None:
        return _load()
    brand = getattr(request, _REQUEST_ATTRIBUTE, None)
    if brand is None:
        brand = _load()
        setattr(request, _REQUEST_ATTRIBUTE, brand)
    return brand


def context(request: HttpRequest) -> dict[str, Brand]:
    """Template context processor: ``brand`` on every page."""
    return {"brand": current(request)}
