"""Error bodies for the REST API: every problem names its field and says how to fix it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from keystead.api.auth import MissingScope
from keystead.directory import audit
from keystead.directory.authorization import NotAllowed
from keystead.directory.services import Conflict, RuleViolation


def _field_of(loc: list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload")]
    return ".".join(parts) or "request"


def install_error_handlers(api: NinjaAPI) -> None:
    def body(request: HttpRequest, status: int, detail: str, errors: list[dict] | None = None):
        payload: dict[str, Any] = {"detail": detail}
        if errors is not None:
            payload["errors"] = errors
        return api.create_response(request, payload, status=status)

    @api.exception_handler(ValidationError)
    def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = []
        for err in exc.errors:
            field = _field_of(list(err.get("loc", [])))
            message = str(err.get("msg", "is not valid"))
            errors.append({"field": field, "message": f"{field}: {message}"})
        return body(request, 400, "The request is not valid; see errors.", errors)

    @api.exception_handler(Conflict)
    def conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        errors = [{"field": p.field, "message": p.message} for p in exc.problems]
        return body(request, 409, str(exc), errors)

    @api.exception_handler(RuleViolation)
    def rule_violation(request: HttpRequest, exc: RuleViolation) -> HttpResponse:
        errors = [{"field": p.field, "message": p.message} for p in exc.problems]
        return body(request, 400, str(exc), errors)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = body(
            request, 401,
            "Send a valid, unexpired API token: 'Authorization: Bearer <token>'.",
        )
        response["WWW-Authenticate"] = 'Bearer realm="keystead"'
        return response

    @api.exception_handler(MissingScope)
    def forbidden(request: HttpRequest, exc: MissingScope) -> HttpResponse:
        return body(request, 403, f"{exc} Create a token with --scope {exc.scope}.")

    @api.exception_handler(NotAllowed)
    def not_allowed(request: HttpRequest, exc: NotAllowed) -> HttpResponse:
        audit.refusal_answered("api.refused", request, exc)
        return body(request, 403, str(exc))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return body(request, exc.status_code, str(exc))
