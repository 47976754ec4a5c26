"""Branding: the product name, logo, accent colour and sign-in message people see."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

    from keystead.branding.brand import Brand


def current(request: HttpRequest | None = None) -> Brand:
    """The installation's branding (see ``keystead.branding.brand.current``)."""
    from keystead.branding.brand import current as load  # models load after app setup

    return load(request)
