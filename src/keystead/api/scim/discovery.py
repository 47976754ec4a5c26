"""Service discovery (RFC 7644 §4): ServiceProviderConfig, Schemas and ResourceTypes.

Everything is built from ``schemas`` and the limits the listing code enforces,
so what is advertised is what the endpoints do.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from keystead.api.scim.endpoint import location, scim_endpoint, scim_json
from keystead.api.scim.errors import ScimError
from keystead.api.scim.listing import MAX_RESULTS
from keystead.api.scim.schemas import (
    LIST_RESPONSE,
    RESOURCE_SCHEMAS,
    RESOURCE_TYPE_SCHEMA,
    SPC_SCHEMA,
    ResourceSchema,
)


def _refuse_filter(request: HttpRequest) -> None:
    """RFC 7644 §4: discovery endpoints do not filter; say so rather than ignore it."""
    if "filter" in request.GET:
        raise ScimError(403, "Discovery endpoints do not support filtering.")


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [LIST_RESPONSE], "totalResults": len(resources),
            "itemsPerPage": len(resources), "startIndex": 1, "Resources": resources}


def service_provider_config_json() -> dict[str, Any]:
    return {
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A Keystead API token with the 'scim' scope, sent as "
                           "'Authorization: Bearer <token>'.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": location("/ServiceProviderConfig")},
    }


def resource_type_json(schema: ResourceSchema) -> dict[str, Any]:
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": schema.name,
        "name": schema.name,
        "endpoint": schema.endpoint,
        "description": schema.description,
        "schema": schema.id,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType",
                 "location": location("/ResourceTypes", schema.name)},
    }


def schema_json(schema: ResourceSchema) -> dict[str, Any]:
    return schema.to_json(location("/Schemas", schema.id))


def _service_provider_config(request: HttpRequest) -> HttpResponse:
    _refuse_filter(request)
    return scim_json(service_provider_config_json())


def _schemas(request: HttpRequest) -> HttpResponse:
    _refuse_filter(request)
    return scim_json(_list([schema_json(s) for s in RESOURCE_SCHEMAS]))


def _schema(request: HttpRequest, schema_id: str) -> HttpResponse:
    for schema in RESOURCE_SCHEMAS:
        if schema.id.lower() == schema_id.lower():
            return scim_json(schema_json(schema))
    raise ScimError(404, f"No schema {schema_id!r}; see /Schemas for the ones Keystead serves.")


def _resource_types(request: HttpRequest) -> HttpResponse:
    _refuse_filter(request)
    return scim_json(_list([resource_type_json(s) for s in RESOURCE_SCHEMAS]))


def _resource_type(request: HttpRequest, name: str) -> HttpResponse:
    for schema in RESOURCE_SCHEMAS:
        if schema.name.lower() == name.lower():
            return scim_json(resource_type_json(schema))
    raise ScimError(404, f"No resource type {name!r}; Keystead serves User and Group.")


service_provider_config = scim_endpoint({"GET": _service_provider_config})
schemas = scim_endpoint({"GET": _schemas})
schema = scim_endpoint({"GET": _schema})
resource_types = scim_endpoint({"GET": _resource_types})
resource_type = scim_endpoint({"GET": _resource_type})
