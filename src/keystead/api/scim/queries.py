"""Filter AST → Django Q, per resource attribute map; plus sortBy → order_by.

Pure translation (no queries run here), so it is tested without a database.
Every value reaches the database as a query parameter: nothing from the filter
is ever formatted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, Model, Q
from django.db.models.expressions import OrderBy
from django.db.models.functions import Lower
from django.db.models.lookups import (
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)
from django.utils.dateparse import parse_datetime

from keystead.api.scim.filters import And, AttrPath, Node, Not, Or, ValuePath
from keystead.api.scim.schemas import ResourceSchema

MAX_ID = 2**63 - 1
_ORDERING = {"gt": GreaterThan, "ge": GreaterThanOrEqual, "lt": LessThan, "le": LessThanOrEqual}
_TEXT_LOOKUPS = {"co": "contains", "sw": "startswith", "ew": "endswith"}


class FilterError(ValueError):
    """The filter parses but cannot be applied (unknown attribute, wrong value type)."""


@dataclass(frozen=True)
class Column:
    """How one SCIM attribute is stored.

    ``kind`` is string, boolean, datetime, id (an integer primary key written as
    a string) or const (the same value for every resource, e.g. emails.type).
    ``multi`` marks a to-many join, after which the query needs ``distinct()``.
    """

    field: str = ""
    kind: str = "string"
    case_exact: bool = False
    multi: bool = False
    const: Any = None


ColumnMap = dict[str, Column]

_ALL = Q(pk__isnull=False)
_NONE = Q(pk__isnull=True)


@dataclass
class Translation:
    q: Q
    needs_distinct: bool
    unknown: frozenset[str] = frozenset()


def _column(path: AttrPath, columns: ColumnMap, schema: ResourceSchema,
            prefix: str | None) -> tuple[str, Column | None]:
    if path.uri is not None and path.uri.lower() != schema.id.lower():
        raise FilterError(f"Filtering on schema {path.uri!r} is not supported.")
    name = f"{prefix}.{path}" if prefix else str(path)
    return name, columns.get(name.lower())


def unknown_attribute(name: str, columns: ColumnMap, schema: ResourceSchema) -> FilterError:
    known = ", ".join(sorted({_display(k, schema) for k in columns}))
    return FilterError(f"Cannot filter {schema.name}s on {name!r}; filter on one of: {known}.")


def _display(key: str, schema: ResourceSchema) -> str:
    """Restore the canonical spelling of a lower-cased column key for messages."""
    parts = key.split(".")
    attribute = schema.attribute(parts[0])
    if attribute is None:
        return key
    if len(parts) == 1:
        return attribute.name
    sub = attribute.sub(parts[1])
    return f"{attribute.name}.{sub.name if sub else parts[1]}"


def _id_value(value: Any) -> int | None:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if text.isdigit() and int(text) <= MAX_ID:
        return int(text)
    return None


def _datetime_value(name: str, value: Any) -> datetime:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed but impossible, e.g. month 13
        parsed = None
    if parsed is None:
        raise FilterError(
            f"{name} needs a date-time in quotes, e.g. \"2025-01-31T12:00:00Z\"."
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(name: str, column: Column, op: str, value: Any) -> Q:
    if column.kind == "const":
        return _compare_const(name, column, op, value)
    field = column.field
    if op == "pr":
        if column.kind == "string":
            return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})
        return Q(**{f"{field}__isnull": False})
    if value is None:
        if op not in ("eq", "ne"):
            raise FilterError(f"{name} {op} null: only eq and ne accept null.")
        present = _compare(name, column, "pr", None)
        return ~present if op == "eq" else present
    if op == "ne":
        return ~_compare(name, column, "eq", value)
    if column.kind == "boolean":
        if op != "eq":
            raise FilterError(f"{name} is a boolean: use eq, ne or pr, not {op!r}.")
        if not isinstance(value, bool):
            raise FilterError(f"{name} is a boolean: compare it with true or false.")
        return Q(**{field: value})
    if column.kind == "id":
        if op != "eq":
            raise FilterError(f"{name} is an identifier: use eq, ne or pr, not {op!r}.")
        number = _id_value(value)
        return Q(**{field: number}) if number is not None else _NONE
    if column.kind == "datetime":
        if op in _TEXT_LOOKUPS:
            raise FilterError(f"{name} is a date-time: use eq, ne, gt, ge, lt, le or pr.")
        moment = _datetime_value(name, value)
        if op == "eq":
            return Q(**{field: moment})
        return Q(_ORDERING[op](F(field), moment))
    if not isinstance(value, str):
        raise FilterError(f"{name} is a string: put the value in double quotes.")
    if op == "eq":
        return Q(**{f"{field}__{'exact' if column.case_exact else 'iexact'}": value})
    if op in _TEXT_LOOKUPS:
        lookup = _TEXT_LOOKUPS[op]
        return Q(**{f"{field}__{lookup if column.case_exact else 'i' + lookup}": value})
    if column.case_exact:
        return Q(_ORDERING[op](F(field), value))
    return Q(_ORDERING[op](Lower(F(field)), value.lower()))


def _compare_const(name: str, column: Column, op: str, value: Any) -> Q:
    """Attributes with one value for every resource are decided here, not in SQL."""
    const = column.const
    if op == "pr":
        return _ALL
    if isinstance(const, bool):
        if op not in ("eq", "ne"):
            raise FilterError(f"{name} is a boolean: use eq, ne or pr, not {op!r}.")
        if not isinstance(value, bool):
            raise FilterError(f"{name} is a boolean: compare it with true or false.")
        same = value is const
    elif not isinstance(value, str):
        raise FilterError(f"{name} is a string: put the value in double quotes.")
    else:
        left, right = (const, value) if column.case_exact else (const.lower(), value.lower())
        same = {
            "eq": left == right, "ne": left != right, "co": right in left,
            "sw": left.startswith(right), "ew": left.endswith(right),
            "gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right,
        }[op]
        return _ALL if same else _NONE
    return _ALL if same == (op == "eq") else _NONE


class _Translator:
    def __init__(self, columns: ColumnMap, schema: ResourceSchema, lenient: bool,
                 model: type[Model] | None) -> None:
        self.columns = columns
        self.schema = schema
        self.lenient = lenient
        self.model = model
        self.needs_distinct = False
        self.in_value_path_multi = False
        self.unknown: set[str] = set()

    def isolated(self, q: Q) -> Q:
        """A condition on a multi-valued attribute, matched by any of the resource's values.

        Django reuses one join for all conditions of a filter, so
        ``groups.display eq "A" and groups.display eq "B"`` would ask one group to
        be called both. RFC 7644 §3.4.2.2 evaluates each expression on its own
        ("matches if any of the values ... match"), so each one becomes its own
        subquery. Inside one value filter (``emails[type eq "work" and value co "x"]``)
        the conditions stay on one join: they describe the same value.
        """
        if self.model is None:
            self.needs_distinct = True
            return q
        return Q(pk__in=self.model._default_manager.filter(q).values("pk"))

    def visit(self, node: Node, prefix: str | None = None) -> Q:
        if isinstance(node, And):
            return self.visit(node.left, prefix) & self.visit(node.right, prefix)
        if isinstance(node, Or):
            return self.visit(node.left, prefix) | self.visit(node.right, prefix)
        if isinstance(node, Not):
            return ~self.visit(node.expr, prefix)
        if isinstance(node, ValuePath):
            if node.path.uri is not None and node.path.uri.lower() != self.schema.id.lower():
                raise FilterError(f"Filtering on schema {node.path.uri!r} is not supported.")
            self.in_value_path_multi = False
            q = self.visit(node.filter, node.path.attr)
            return self.isolated(q) if self.in_value_path_multi else q
        name, column = _column(node.path, self.columns, self.schema, prefix)
        if column is None:
            if not self.lenient:
                raise unknown_attribute(name, self.columns, self.schema)
            # The attribute is unassigned on this resource type: it matches nothing.
            self.unknown.add(name)
            return _NONE
        q = _compare(name, column, node.op, node.value)
        if not column.multi:
            return q
        if prefix is not None:  # inside a value filter: isolated as a whole, above
            self.in_value_path_multi = True
            return q
        return self.isolated(q)


def to_q(node: Node, columns: ColumnMap, schema: ResourceSchema, *,
         lenient: bool = False, model: type[Model] | None = None) -> Translation:
    """Translate a parsed filter; raises FilterError naming the attribute at fault.

    ``lenient`` (for searches across resource types) treats attributes this
    type lacks as unassigned and reports them in ``unknown`` instead.
    With ``model``, each condition on a multi-valued attribute is a subquery of
    its own (see ``_Translator.isolated``); without one (pure tests) it is a
    join, and ``needs_distinct`` says so.
    """
    translator = _Translator(columns, schema, lenient, model)
    q = translator.visit(node)
    return Translation(q, translator.needs_distinct, frozenset(translator.unknown))


def order_by(sort_by: str, sort_order: str | None, columns: ColumnMap,
             schema: ResourceSchema) -> list[OrderBy | str]:
    """``sortBy``/``sortOrder`` → order_by() arguments, primary key last for stable pages."""
    name = schema.strip_urn(sort_by)
    column = columns.get((name or "").lower())
    if column is None or column.kind == "const" or column.multi:
        sortable = ", ".join(sorted(
            _display(k, schema) for k, c in columns.items() if c.kind != "const" and not c.multi
        ))
        raise FilterError(f"Cannot sort on {sort_by!r}; sort on one of: {sortable}.")
    descending = (sort_order or "ascending").lower() == "descending"
    expression = F(column.field) if column.case_exact or column.kind != "string" \
        else Lower(F(column.field))
    ordering = expression.desc() if descending else expression.asc()
    return [ordering, "-pk" if descending else "pk"]
