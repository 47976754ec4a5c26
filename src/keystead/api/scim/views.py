"""The resource endpoints, written once for any ResourceKind (Users, Groups).

Every write runs in one transaction with the row locked: the resource is read,
checked against If-Match, changed through the services and read back, so a
failure at any step leaves nothing behind and concurrent PATCHes do not lose
each other's changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from keystead.api.scim.endpoint import (
    check_if_match,
    not_modified,
    scim_endpoint,
    scim_json,
)
from keystead.api.scim.errors import ScimError
from keystead.api.scim.listing import list_resources, read_params
from keystead.api.scim.patch import apply_patch, parse_patch
from keystead.api.scim.payload import canonical, check_schemas, pop_write_only, read_json
from keystead.api.scim.projection import Projection, parse_projection, project
from keystead.api.scim.resources import ResourceKind
from keystead.api.scim.schemas import SEARCH_REQUEST


def _projection(request: HttpRequest, kind: ResourceKind[Any]) -> Projection:
    return parse_projection(request.GET.get("attributes"), request.GET.get("excludedAttributes"),
                            kind.schema)


def _answer(request: HttpRequest, kind: ResourceKind[Any], resource_id: Any,
            status: int = 200) -> HttpResponse:
    """Read the resource back and answer with it, as the client asked to see it."""
    doc = kind.render(kind.get(str(resource_id)))
    headers = {"ETag": doc["meta"]["version"]}
    if status == 201:
        headers["Location"] = doc["meta"]["location"]
    return scim_json(project(doc, _projection(request, kind)), status, headers)


def _read_resource(request: HttpRequest, kind: ResourceKind[Any]) -> tuple[dict[str, Any],
                                                                           dict[str, Any]]:
    """A POST/PUT body: write-only values out first, then schemas checked, names canonical."""
    body = read_json(request)
    secrets = pop_write_only(body, kind.schema)
    check_schemas(body, kind.schema.id)
    return canonical(body, kind.schema), secrets


def collection(kind: ResourceKind[Any]) -> Callable[..., HttpResponse]:
    def list_(request: HttpRequest) -> HttpResponse:
        return scim_json(list_resources([kind], read_params(request.GET)))

    def create(request: HttpRequest) -> HttpResponse:
        doc, secrets = _read_resource(request, kind)
        with transaction.atomic():
            obj = kind.create(doc, secrets, request)
        return _answer(request, kind, obj.pk, status=201)

    return scim_endpoint({"GET": list_, "POST": create})


def search(*kinds: ResourceKind[Any]) -> Callable[..., HttpResponse]:
    """POST .search (RFC 7644 §3.4.3) over one resource type, or all of them at the root."""
    def search_(request: HttpRequest) -> HttpResponse:
        body = read_json(request)
        check_schemas(body, SEARCH_REQUEST)
        return scim_json(list_resources(kinds, read_params(body)))

    return scim_endpoint({"POST": search_})


def root(*kinds: ResourceKind[Any]) -> Callable[..., HttpResponse]:
    """GET at the service root (RFC 7644 §3.4.2.1): a query over every resource type."""
    def list_(request: HttpRequest) -> HttpResponse:
        return scim_json(list_resources(kinds, read_params(request.GET)))

    return scim_endpoint({"GET": list_})


def item(kind: ResourceKind[Any]) -> Callable[..., HttpResponse]:
    def get(request: HttpRequest, resource_id: str) -> HttpResponse:
        projection = _projection(request, kind)
        doc = kind.render(kind.get(resource_id))
        version = doc["meta"]["version"]
        check_if_match(request, version)  # RFC 7232 §6: If-Match first, then If-None-Match
        if not_modified(request, version):
            return HttpResponse(status=304, headers={"ETag": version})
        return scim_json(project(doc, projection), headers={"ETag": version})

    def replace(request: HttpRequest, resource_id: str) -> HttpResponse:
        doc, secrets = _read_resource(request, kind)
        with transaction.atomic():
            obj = kind.get(resource_id, lock=True)
            kind.check_writable(obj, request)
            before = kind.render(obj)
            check_if_match(request, before["meta"]["version"])
            # The URL names the resource. An ``id`` (or ``meta``, ``groups``) in the body is
            # readOnly, and readOnly values in a PUT "SHALL be ignored" (RFC 7644 §3.5.1):
            # ``save`` reads only the attributes a client may set.
            kind.save(obj, before, doc, secrets, request)
        return _answer(request, kind, resource_id)

    def patch(request: HttpRequest, resource_id: str) -> HttpResponse:
        patch_request = parse_patch(read_json(request), kind.schema)
        with transaction.atomic():
            obj = kind.get(resource_id, lock=True)
            kind.check_writable(obj, request)
            before = kind.render(obj)
            check_if_match(request, before["meta"]["version"])
            after = apply_patch(before, patch_request.operations, kind.schema)
            kind.save(obj, before, after, patch_request.secrets, request)
        return _answer(request, kind, resource_id)

    def delete(request: HttpRequest, resource_id: str) -> HttpResponse:
        with transaction.atomic():
            obj = kind.get(resource_id, lock=True)
            kind.check_writable(obj, request)
            check_if_match(request, kind.render(obj)["meta"]["version"])
            kind.delete(obj, request)
        return HttpResponse(status=204)

    return scim_endpoint({"GET": get, "PUT": replace, "PATCH": patch, "DELETE": delete})


def _not_implemented(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise ScimError(501, f"{request.path} is not implemented: Keystead's SCIM service has no "
                         "/Bulk and no /Me endpoint. See /scim/v2/ServiceProviderConfig.")


def _unknown(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise ScimError(404, f"No SCIM endpoint at {request.path}; the endpoints are /Users, "
                         "/Groups, /ServiceProviderConfig, /Schemas and /ResourceTypes.")


_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
not_implemented = scim_endpoint(dict.fromkeys(_ALL_METHODS, _not_implemented))
unknown_endpoint = scim_endpoint(dict.fromkeys(_ALL_METHODS, _unknown))
