"""SCIM errors (RFC 7644 §3.12): one exception type, rendered as the SCIM error JSON.

Code anywhere under the SCIM package raises ``ScimError``; the endpoint wrapper
turns it into a response, so no path can answer with an HTML page. Details must
never contain a password: callers pass messages they wrote, not raw input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.http import HttpResponse

from keystead.api.scim.schemas import ERROR
from keystead.directory.services import Conflict, RuleViolation

SCIM_MEDIA_TYPE = "application/scim+json"

USER_FIELDS = {
    "username": "userName",
    "email": "emails",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "is_active": "active",
    "external_id": "externalId",
    "password": "password",
}
GROUP_FIELDS = {"name": "displayName", "members": "members", "external_id": "externalId"}

# The rules phrase messages with a human label ("Family name is required");
# SCIM clients know the attribute path, so the label is swapped for the path.
_LABELS = {
    "username": "User name",
    "email": "Email",
    "given_name": "Given name",
    "family_name": "Family name",
    "name": "Group",
    "password": "Password",
}


class ScimError(Exception):
    """An error answered to the SCIM client: HTTP status, optional scimType, detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, str]:
        body = {"schemas": [ERROR], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body

    def response(self) -> HttpResponse:
        response = HttpResponse(
            json.dumps(self.to_json()), status=self.status, content_type=SCIM_MEDIA_TYPE
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidSyntax")


def not_found(kind: str, resource_id: str) -> ScimError:
    return ScimError(404, f"No {kind} with id {resource_id!r}.")


def _phrase(field: str, message: str, fields: Mapping[str, str]) -> str:
    path = fields.get(field, field)
    label = _LABELS.get(field)
    if label and message.startswith(label + " "):
        return path + message[len(label):]
    return f"{path}: {message}"


def from_rule_violation(exc: RuleViolation, fields: Mapping[str, str]) -> ScimError:
    """Map a directory rule failure to SCIM: a conflict is 409, anything else 400.

    Field names become SCIM attribute paths (family_name → name.familyName) so
    the client is told which attribute to fix.
    """
    detail = "; ".join(_phrase(p.field, p.message, fields) for p in exc.problems)
    if isinstance(exc, Conflict):
        return ScimError(409, detail, "uniqueness")
    return invalid_value(detail)
