"""Listing resources (RFC 7644 §3.4.2, §3.4.3): filter, sort, paginate, project.

The same parameters arrive as a query string (GET /Users) or as a SearchRequest
body (POST /Users/.search); both are read into ``ListParams`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keystead.api.scim.errors import ScimError, invalid_value
from keystead.api.scim.filters import FilterSyntaxError, parse_filter
from keystead.api.scim.projection import Projection, parse_projection, project
from keystead.api.scim.queries import FilterError, order_by, to_q
from keystead.api.scim.resources import ResourceKind
from keystead.api.scim.schemas import LIST_RESPONSE

DEFAULT_COUNT = 100
MAX_RESULTS = 1000


@dataclass(frozen=True)
class ListParams:
    filter: str | None
    sort_by: str | None
    sort_order: str | None
    start_index: int
    count: int
    projection: Projection


def _integer(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise invalid_value(f"{name} must be an integer.")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid_value(f"{name} must be an integer, e.g. {name}={default}.") from None


def _text(name: str, raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid_value(f"{name} must be a string.")
    return raw


def read_params(source: Mapping[str, Any], kind: ResourceKind[Any]) -> ListParams:
    """Parameters from a query string or a SearchRequest (names are case-insensitive)."""
    values = {str(k).lower(): v for k, v in source.items()}
    sort_order = _text("sortOrder", values.get("sortorder"))
    if sort_order is not None and sort_order.lower() not in ("ascending", "descending"):
        raise invalid_value("sortOrder must be 'ascending' or 'descending'.")
    start = _integer("startIndex", values.get("startindex"), 1)
    count = _integer("count", values.get("count"), DEFAULT_COUNT)
    return ListParams(
        filter=_text("filter", values.get("filter")),
        sort_by=_text("sortBy", values.get("sortby")),
        sort_order=sort_order,
        start_index=max(start, 1),
        count=min(max(count, 0), MAX_RESULTS),
        projection=parse_projection(values.get("attributes"),
                                    values.get("excludedattributes"), kind.schema),
    )


def list_resources(kind: ResourceKind[Any], params: ListParams) -> dict[str, Any]:
    query = kind.queryset(params.projection)
    if params.filter is not None:
        try:
            translation = to_q(parse_filter(params.filter), kind.columns, kind.schema)
        except (FilterSyntaxError, FilterError) as exc:
            raise ScimError(400, f"Invalid filter: {exc}", "invalidFilter") from None
        query = query.filter(translation.q)
        if translation.needs_distinct:
            query = query.distinct()
    if params.sort_by:
        try:
            query = query.order_by(*order_by(params.sort_by, params.sort_order, kind.columns,
                                             kind.schema))
        except FilterError as exc:
            raise invalid_value(str(exc)) from None
    else:
        query = query.order_by("pk")
    total = query.count()
    first = params.start_index - 1
    page = list(query[first:first + params.count]) if params.count else []
    resources = [project(kind.render(obj, params.projection), params.projection)
                 for obj in page]
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": params.start_index,
        "Resources": resources,
    }
