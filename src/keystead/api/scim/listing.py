"""Listing resources (RFC 7644 §3.4.2, §3.4.3): filter, sort, paginate, project.

The same parameters arrive as a query string (GET /Users) or as a SearchRequest
body (POST /Users/.search); both are read into ``ListParams`` here. A search at
the service root (GET / or POST /.search) covers every resource type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

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
    attributes: Any
    excluded_attributes: Any

    def projection(self, kind: ResourceKind[Any]) -> Projection:
        return parse_projection(self.attributes, self.excluded_attributes, kind.schema)


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


def read_params(source: Mapping[str, Any]) -> ListParams:
    """Parameters from a query string or a SearchRequest (names are case-insensitive)."""
    values = {str(k).lower(): v for k, v in source.items()}
    sort_order = _text("sortOrder", values.get("sortorder"))
    if sort_order is not None and sort_order.lower() not in ("ascending", "descending"):
        raise invalid_value("sortOrder must be 'ascending' or 'descending'.")
    start = _integer("startIndex", values.get("startindex"), 1)
    count = _integer("count", values.get("count"), DEFAULT_COUNT)
    return ListParams(
        filter=_text("filter", values.get("filter")) or None,
        sort_by=_text("sortBy", values.get("sortby")),
        sort_order=sort_order,
        start_index=max(start, 1),
        count=min(max(count, 0), MAX_RESULTS),
        attributes=values.get("attributes"),
        excluded_attributes=values.get("excludedattributes"),
    )


def _invalid_filter(exc: Exception) -> ScimError:
    return ScimError(400, f"Invalid filter: {exc}", "invalidFilter")


def _query(kind: ResourceKind[Any], params: ListParams, *,
           across: bool) -> tuple[QuerySet[Any], frozenset[str]]:
    """The filtered, ordered query for one resource type, and the attributes it lacks.

    Searching across types (``across``), attributes and a sortBy the type lacks
    do not fail the search, since another type may have them.
    """
    query = kind.queryset(params.projection(kind))
    unknown: frozenset[str] = frozenset()
    if params.filter is not None:
        try:
            translation = to_q(parse_filter(params.filter), kind.columns, kind.schema,
                               lenient=across, model=query.model)
        except (FilterSyntaxError, FilterError) as exc:
            raise _invalid_filter(exc) from None
        query = query.filter(translation.q)
        unknown = translation.unknown
        if translation.needs_distinct:
            query = query.distinct()
    ordering: list[Any] = ["pk"]
    if params.sort_by:
        try:
            ordering = order_by(params.sort_by, params.sort_order, kind.columns, kind.schema)
        except FilterError as exc:
            if not across:
                raise invalid_value(str(exc)) from None
    return query.order_by(*ordering), unknown


def list_resources(kinds: Sequence[ResourceKind[Any]], params: ListParams) -> dict[str, Any]:
    """One page of resources of one type, or of several (a search at the service root).

    Across several types, an attribute a type lacks counts as unassigned on it
    (``members`` on a User); the filter is refused only if no type has it.
    Pages run through the types in order (Users, then Groups).
    """
    queries = []
    unknown_everywhere: set[str] | None = None
    for kind in kinds:
        query, unknown = _query(kind, params, across=len(kinds) > 1)
        queries.append((kind, query))
        unknown_everywhere = set(unknown) if unknown_everywhere is None \
            else unknown_everywhere & unknown
    if unknown_everywhere:
        names = ", ".join(sorted(unknown_everywhere))
        raise _invalid_filter(f"no resource type has the attribute(s) {names}.")
    total = 0
    skip, room = params.start_index - 1, params.count
    resources: list[dict[str, Any]] = []
    for kind, query in queries:
        found = query.count()
        total += found
        if room > 0 and skip < found:
            projection = params.projection(kind)
            page = list(query[skip:skip + room])
            resources += [project(kind.render(obj, projection), projection) for obj in page]
            room -= len(page)
        skip = max(skip - found, 0)
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": params.start_index,
        "Resources": resources,
    }
