"""Every refusal a page answers leaves one audit event, whichever page raised it.

A service refuses with ``authorization.NotAllowed``; the console and the portal let
it reach Django, which answers 403. By then the view's transaction has been rolled
back, taking with it any event the service wrote inside it, so this records the
door's own (``console.refused`` under the console, ``portal.refused`` elsewhere)
unless the service's stayed. The REST API and SCIM answer their refusals themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from keystead.directory import audit
from keystead.directory.authorization import NotAllowed


def door_of(request: HttpRequest) -> str:
    """The console is the admin site's namespace; every other page is the portal's."""
    match = request.resolver_match
    return "console" if match is not None and "admin" in match.namespaces else "portal"


class RefusalAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, NotAllowed):
            audit.refusal_answered(f"{door_of(request)}.refused", request, exception)
        # None: Django answers as it would have (403 for a refusal).
