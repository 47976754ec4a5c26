"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5), applied to rendered dicts.

Pure. Names are resolved through the schema, so case and URN prefixes do not
matter; names the schema does not know are ignored, as the RFC allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keystead.api.scim.schemas import ResourceSchema

# Attributes with returned "always" (and the schemas list) survive any projection.
ALWAYS = frozenset({"schemas", "id"})

Selection = dict[str, set[str] | None]  # attribute → sub-attributes (None: all of it)


@dataclass(frozen=True)
class Projection:
    include: Selection | None = None
    exclude: Selection = field(default_factory=dict)

    def wants(self, attribute: str) -> bool:
        """Whether the response needs ``attribute`` at all (to skip costly lookups)."""
        if self.include is not None and attribute not in self.include:
            return attribute in ALWAYS
        return not (attribute in self.exclude and self.exclude[attribute] is None)


def _names(raw: Any) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _select(raw: Any, schema: ResourceSchema) -> Selection:
    selection: Selection = {}
    for text in _names(raw):
        name = schema.strip_urn(text)
        if not name:
            continue
        top, _, rest = name.partition(".")
        attribute = schema.attribute(top)
        if attribute is None:
            continue
        sub = attribute.sub(rest) if rest else None
        if rest and sub is None:
            continue
        if sub is None:
            selection[attribute.name] = None
        elif attribute.name not in selection or selection[attribute.name] is not None:
            subs = selection.get(attribute.name) or set()
            subs.add(sub.name)
            selection[attribute.name] = subs
    return selection


def parse_projection(attributes: Any, excluded: Any, schema: ResourceSchema) -> Projection:
    include = _select(attributes, schema) if _names(attributes) else None
    return Projection(include=include, exclude=_select(excluded, schema))


def _keep_subs(value: Any, subs: set[str], keep: bool) -> Any:
    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        return {k: v for k, v in item.items() if (k in subs) == keep}

    return [one(v) for v in value] if isinstance(value, list) else one(value)


def project(doc: dict[str, Any], projection: Projection) -> dict[str, Any]:
    """A copy of ``doc`` limited to what the client asked for."""
    result: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ALWAYS:
            result[key] = value
            continue
        if projection.include is not None:
            if key not in projection.include:
                continue
            subs = projection.include[key]
            if subs is not None:
                value = _keep_subs(value, subs, keep=True)
        if key in projection.exclude:
            subs = projection.exclude[key]
            if subs is None:
                continue
            value = _keep_subs(value, subs, keep=False)
        result[key] = value
    return result
