"""The public branding addresses: the theme stylesheet and the logo."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from keystead.branding import current
from keystead.branding.models import BrandSetting


def _cache_control(request: HttpRequest) -> str:
    """A year for the versioned addresses the pages link (``?v=`` changes with every
    change); an unversioned request must ask again each time."""
    return "public, max-age=31536000" if "v" in request.GET else "no-cache"


#: Opened directly, an SVG logo is a document: it may draw itself, never run script,
#: load anything or be framed.
LOGO_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
               "frame-ancestors 'none'; sandbox")


@require_GET
def theme(request: HttpRequest) -> HttpResponse:
    """``--accent`` for the stylesheets (the CSP forbids inline styles in pages)."""
    response = HttpResponse(f":root {{ --accent: {current(request).accent}; }}\n",
                            content_type="text/css; charset=utf-8")
    response["Cache-Control"] = _cache_control(request)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def logo(request: HttpRequest) -> HttpResponse:
    """The uploaded logo with the type judged from its bytes when it was uploaded."""
    row = BrandSetting.objects.filter(pk=1).exclude(logo_type="").values(
        "logo", "logo_type").first()
    if row is None or not row["logo"]:
        raise Http404("No logo has been uploaded.")
    response = HttpResponse(bytes(row["logo"]), content_type=row["logo_type"])
    response["Content-Security-Policy"] = LOGO_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = _cache_control(request)
    return response
