"""Value filters evaluated on plain dicts: which values of a multi-valued attribute match.

PATCH paths such as ``members[value eq "12"]`` or ``emails[type eq "work"]``
select values inside one resource, so they are evaluated here in Python rather
than in SQL. Pure: no Django, no database.
"""

from __future__ import annotations

from typing import Any

from keystead.api.scim.filters import And, Compare, FilterSyntaxError, Node, Not, Or, ValuePath
from keystead.api.scim.schemas import Attribute


def equalities(node: Node, attribute: Attribute) -> dict[str, Any] | None:
    """The value an 'add' creates when its filter matched nothing: eq tests joined by and."""
    if isinstance(node, Compare) and node.op == "eq" and node.path.sub is None:
        sub = attribute.sub(node.path.attr)
        return {sub.name: node.value} if sub else None
    if isinstance(node, And):
        left, right = equalities(node.left, attribute), equalities(node.right, attribute)
        return {**left, **right} if left is not None and right is not None else None
    return None


def matches(node: Node, element: Any, attribute: Attribute) -> bool:
    """Whether one value of a multi-valued attribute satisfies a value filter."""
    if isinstance(node, And):
        return matches(node.left, element, attribute) and matches(node.right, element, attribute)
    if isinstance(node, Or):
        return matches(node.left, element, attribute) or matches(node.right, element, attribute)
    if isinstance(node, Not):
        return not matches(node.expr, element, attribute)
    if isinstance(node, ValuePath):
        raise FilterSyntaxError("A value filter cannot contain another one.")
    if node.path.sub is not None:
        raise FilterSyntaxError(f"{node.path} is nested too deep inside {attribute.name}[...].")
    sub = attribute.sub(node.path.attr) if attribute.is_complex else None
    if attribute.is_complex and sub is None:
        raise FilterSyntaxError(f"{attribute.name} has no sub-attribute {node.path.attr!r}.")
    if isinstance(element, dict):
        actual = element.get(sub.name) if sub else None
    else:
        actual = element if node.path.attr.lower() == "value" else None
    return _compare(actual, node.op, node.value, case_exact=bool(sub and sub.case_exact))


def _compare(actual: Any, op: str, expected: Any, *, case_exact: bool) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if isinstance(actual, bool) or isinstance(expected, bool) or expected is None:
        same = actual == expected
        if op in ("eq", "ne"):
            return same if op == "eq" else not same
        return False
    left = str(actual) if actual is not None else None
    right = str(expected)
    if left is None:
        return op == "ne"
    if not case_exact:
        left, right = left.casefold(), right.casefold()
    return {
        "eq": left == right, "ne": left != right, "co": right in left,
        "sw": left.startswith(right), "ew": left.endswith(right),
        "gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right,
    }[op]
