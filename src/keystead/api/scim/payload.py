"""Reading request bodies: JSON parsing, canonical attribute names, write-only values.

Attribute names in SCIM are case-insensitive (RFC 7643 §2.1), so incoming keys
are renamed to the canonical spelling once, here, and the rest of the package
compares plain strings. Write-only values (the password) are taken out of the
payload and wrapped in ``Secret`` before anything else reads it, so they cannot
reach a rendered resource, an error message or an audit event.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from keystead import json_text
from keystead.api.scim.errors import ScimError, invalid_syntax, invalid_value
from keystead.api.scim.schemas import Attribute, ResourceSchema
from keystead.secret import Secret


def read_json(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or a 400 invalidSyntax that says what is wrong."""
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise ScimError(413, "The request body is too large.") from exc
    if not raw.strip():
        raise invalid_syntax("The request body is empty; send a JSON object.")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise invalid_syntax("The request body is not UTF-8 encoded JSON.") from exc
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError's message gives the position only, never the content.
        where = f": {exc.msg} at line {exc.lineno} column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else ""
        raise invalid_syntax(f"The request body is not valid JSON{where}.") from None
    if not isinstance(data, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    where = json_text.unstorable_in(data)
    if where is not None:
        raise invalid_syntax(json_text.problem_text(where))
    return data



def check_schemas(data: dict[str, Any], expected: str) -> None:
    """``schemas`` may be left out, but when given it must name the expected schema."""
    schemas = data.get("schemas")
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise invalid_syntax("schemas must be a list of schema URIs.")
    if expected.lower() not in (s.lower() for s in schemas):
        raise invalid_syntax(f"schemas must include {expected!r}.")


def write_only_secret(name: str, value: Any) -> Secret:
    """Wrap a write-only value; the error never repeats the value."""
    if not isinstance(value, str) or not value:
        raise invalid_value(f"{name} must be a non-empty string.")
    return Secret(value)


def pop_write_only(data: dict[str, Any], schema: ResourceSchema) -> dict[str, Secret]:
    """Remove write-only attributes from ``data`` (in place) and return them as Secrets."""
    secrets: dict[str, Secret] = {}
    for key in list(data):
        name = schema.strip_urn(key) if isinstance(key, str) else None
        attribute = schema.attribute(name) if name else None
        if attribute is not None and attribute.mutability == "writeOnly":
            secrets[attribute.name] = write_only_secret(attribute.name, data.pop(key))
    return secrets


def canonical_value(attribute: Attribute, value: Any) -> Any:
    """Rename the sub-attribute keys of a complex value; drop the ones not in the schema."""
    if not attribute.is_complex:
        return value
    if attribute.multi_valued and isinstance(value, list):
        return [canonical_value_one(attribute, item) for item in value]
    return canonical_value_one(attribute, value)


def canonical_value_one(attribute: Attribute, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        sub = attribute.sub(key) if isinstance(key, str) else None
        if sub is not None:
            result[sub.name] = item
    return result


def canonical(data: dict[str, Any], schema: ResourceSchema) -> dict[str, Any]:
    """A copy of ``data`` with canonical attribute names.

    Attributes Keystead does not store (and extension schemas) are dropped:
    RFC 7644 lets a service provider ignore what it does not support, and
    ``/Schemas`` tells clients what is kept.
    """
    result: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        name = schema.strip_urn(key)
        attribute = schema.attribute(name) if name else None
        if attribute is not None:
            result[attribute.name] = canonical_value(attribute, value)
    return result
