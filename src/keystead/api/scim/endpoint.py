"""The HTTP edge of SCIM: one wrapper for every view, plus response and ETag helpers.

The wrapper authenticates, dispatches on the method, and turns every failure
into SCIM error JSON, so a client never sees an HTML page, even for a bug.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from keystead.api.scim.auth import authenticate
from keystead.api.scim.errors import SCIM_MEDIA_TYPE, ScimError
from keystead.directory import audit
from keystead.directory.authorization import NotAllowed

log = logging.getLogger("keystead.scim")

Handler = Callable[..., HttpResponse]


def base_url() -> str:
    """The public base of the SCIM service, from KEYSTEAD_BASE_URL (not the Host header)."""
    return f"{settings.BASE_URL.rstrip('/')}/scim/v2"


def location(endpoint: str, resource_id: Any = None) -> str:
    suffix = f"/{resource_id}" if resource_id is not None else ""
    return f"{base_url()}{endpoint}{suffix}"


def timestamp(moment: datetime) -> str:
    """xsd:dateTime in UTC with a Z, microseconds kept so ``eq`` filters can match it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def version_of(doc: Mapping[str, Any]) -> str:
    """A weak ETag over the whole representation (meta aside).

    Hashing what the client sees, rather than trusting updated_at, also changes
    the version when only related rows changed (a group's members).
    """
    content = {k: v for k, v in doc.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f'W/"{digest[:20]}"'


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def check_if_match(request: HttpRequest, version: str) -> None:
    """If-Match must name the current version (RFC 7644 §3.14) or the answer is 412.

    On a write, an If-None-Match that names the current version (or ``*``: the
    resource exists) is a failed precondition too (RFC 7232 §3.2), so a client
    that meant "only if it changed" does not overwrite what it already has.
    """
    header = request.META.get("HTTP_IF_MATCH")
    if header and header.strip() != "*" and version.removeprefix("W/") not in _tags(header):
        raise ScimError(412, "The resource changed since it was read (If-Match does not "
                             "match its current version); read it again and retry.")
    if request.method not in ("GET", "HEAD") and not_modified(request, version):
        raise ScimError(412, "If-None-Match names the resource's current version, so the "
                             "request was not applied.")


def not_modified(request: HttpRequest, version: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    return header.strip() == "*" or version.removeprefix("W/") in _tags(header)


def scim_json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None
              ) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=SCIM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def scim_endpoint(handlers: Mapping[str, Handler]) -> Callable[..., HttpResponse]:
    """Build a view answering ``handlers`` (method → function), authenticated, csrf-exempt."""
    allowed = ", ".join(sorted(handlers))

    @csrf_exempt
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            authenticate(request)
            handler = handlers.get(request.method or "")
            if handler is None:
                raise ScimError(405, f"{request.method} is not supported here; use {allowed}.",
                                headers={"Allow": allowed})
            return handler(request, *args, **kwargs)
        except ScimError as exc:
            return exc.response()
        except NotAllowed as exc:
            audit.refusal_answered("scim.refused", request, exc)
            return ScimError(403, str(exc)).response()
        except Exception:
            # A bug, not bad input. The traceback goes to the log; passwords in
            # flight are Secrets, so it cannot carry one in clear.
            log.exception("SCIM %s %s failed", request.method, request.path)
            return ScimError(500, "Internal error; the request was not applied. "
                                  "The server log has the details.").response()

    return view
