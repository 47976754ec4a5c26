"""The agent's doors: enrolment (with a one-use token) and signed requests afterwards.

JSON in, JSON out; no cookies, so no CSRF (the token or the device signature is the
credential). Bad input is a 400 naming the field, a missing or bad signature a 401.
"""

from __future__ import annotations

import json
import math

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from keystead import json_text
from keystead.devices import services
from keystead.secret import Secret


def _body(request: HttpRequest) -> dict | JsonResponse:
    """The JSON object sent, or the 400 to answer: not JSON, not an object, nested past
    the parser's depth, or holding text no column can store (``json_text``)."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"error": "invalid_request",
                             "error_description": "Send a JSON object as the body."},
                            status=400)
    where = json_text.unstorable_in(data)
    if where is not None:
        return _refused(services.EnrollmentRefused({where: json_text.problem_text(where)}))
    return data


def _refused(error: services.EnrollmentRefused) -> JsonResponse:
    """400 naming the fields; 409 when the request is sound but clashes with what is
    registered (a public key another computer has)."""
    if isinstance(error, services.KeyInUse):
        return JsonResponse({"error": "key_in_use", "problems": error.problems,
                             "error_description": str(error)}, status=409)
    return JsonResponse({"error": "invalid_request", "problems": error.problems,
                         "error_description": str(error)}, status=400)


def _unsigned(error: services.NotSigned) -> JsonResponse:
    return JsonResponse({"error": "not_enrolled", "error_description": str(error)}, status=401)


@csrf_exempt
@require_POST
def enroll(request: HttpRequest) -> JsonResponse:
    """``{"token", "name", "public_key"}`` → 201 and the computer's configuration; 409
    for a public key another computer has; 429 for an address with too many failed
    enrolments (token guessing)."""
    wait = services.enrolment_throttled(request)
    if wait is not None:
        minutes = max(1, math.ceil(wait / 60))
        answer = JsonResponse({"error": "slow_down", "error_description": (
            f"Too many failed enrolments from your address. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, with a valid token.")}, status=429)
        answer["Retry-After"] = str(wait)
        return answer
    data = _body(request)
    if isinstance(data, JsonResponse):
        return data
    fields = {key: data.get(key) for key in ("token", "name", "public_key")}
    missing = {key: f"Give {key}." for key, value in fields.items()
               if not isinstance(value, str) or not value}
    if missing:
        return _refused(services.EnrollmentRefused(missing))
    try:
        device = services.enroll(Secret(fields["token"]), name=fields["name"],
                                 public_key=fields["public_key"], request=request)
    except services.EnrollmentRefused as error:
        return _refused(error)
    return JsonResponse(services.configuration(device), status=201)


@require_GET
def configuration(request: HttpRequest) -> JsonResponse:
    """The signed computer's current configuration (the agent's ``status`` and checks)."""
    try:
        device = services.signed_device(request)
    except services.NotSigned as error:
        return _unsigned(error)
    return JsonResponse(services.configuration(device))


@csrf_exempt
@require_POST
def events(request: HttpRequest) -> JsonResponse:
    """``{"events": [{"event": ..., "user": ..., ...}], "status": {...}}`` from a signed
    computer → each event in the audit log."""
    try:
        device = services.signed_device(request)
    except services.NotSigned as error:
        return _unsigned(error)
    data = _body(request)
    if isinstance(data, JsonResponse):
        return data
    try:
        count = services.report(device, data.get("events", []), status=data.get("status"),
                                request=request)
    except services.EnrollmentRefused as error:
        return _refused(error)
    return JsonResponse({"recorded": count})
