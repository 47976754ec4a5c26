"""PATCH (RFC 7644 §3.5.2) applied to a resource rendered as a plain dict.

The resource is rendered, the operations are applied to a copy, and the result
goes through the same validation and services as a PUT. So PATCH needs no
rules of its own, and a failing operation anywhere in the list means nothing
is saved. Pure: no Django, no database.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from keystead.api.scim.errors import ScimError, invalid_syntax, invalid_value
from keystead.api.scim.filters import FilterSyntaxError, Node, PatchPath, parse_path
from keystead.api.scim.matching import equalities, matches
from keystead.api.scim.payload import canonical_value, write_only_secret
from keystead.api.scim.schemas import PATCH_OP, Attribute, ResourceSchema
from keystead.secret import Secret

OPS = ("add", "replace", "remove")
MAX_OPERATIONS = 1000
_MISSING = object()


@dataclass
class Operation:
    op: str
    path: PatchPath | None
    value: Any = _MISSING


@dataclass
class PatchRequest:
    operations: list[Operation]
    secrets: dict[str, Secret]


def _no_target(detail: str) -> ScimError:
    return ScimError(400, detail, "noTarget")


def _invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidPath")


def _mutability(detail: str) -> ScimError:
    return ScimError(400, detail, "mutability")


def parse_patch(body: dict[str, Any], schema: ResourceSchema) -> PatchRequest:
    """Check the PatchOp message and take write-only values out as Secrets at once."""
    schemas = body.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or PATCH_OP.lower() not in
        (s.lower() for s in schemas if isinstance(s, str))
    ):
        raise invalid_syntax(f"schemas must be [{PATCH_OP!r}].")
    raw_ops = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(raw_ops, list) or not raw_ops:
        raise invalid_syntax("Operations must be a non-empty list of {op, path, value}.")
    if len(raw_ops) > MAX_OPERATIONS:
        raise ScimError(413, f"A PATCH may hold at most {MAX_OPERATIONS} operations.")
    operations: list[Operation] = []
    secrets: dict[str, Secret] = {}
    for number, raw in enumerate(raw_ops, start=1):
        if not isinstance(raw, dict):
            raise invalid_syntax(f"Operation {number} must be a JSON object.")
        fields = {str(k).lower(): v for k, v in raw.items()}
        op = fields.get("op")
        if not isinstance(op, str) or op.lower() not in OPS:
            raise invalid_syntax(f"Operation {number}: op must be add, replace or remove.")
        op = op.lower()
        path = _parse_path(fields.get("path"), number)
        value = fields.get("value", _MISSING)
        if op != "remove" and value is _MISSING:
            raise invalid_value(f"Operation {number} ({op}) needs a value.")
        operation = Operation(op, path, value)
        if _take_secret(operation, schema, secrets, number):
            for key in raw:  # the clear value must not linger in the request body either
                if str(key).lower() == "value":
                    raw[key] = None
            continue
        operations.append(operation)
    return PatchRequest(operations, secrets)


def _parse_path(raw: Any, number: int) -> PatchPath | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _invalid_path(f"Operation {number}: path must be a string.")
    try:
        return parse_path(raw)
    except FilterSyntaxError as exc:
        raise _invalid_path(f"Operation {number}: path {raw!r} is not valid: {exc}") from None


def _take_secret(operation: Operation, schema: ResourceSchema, secrets: dict[str, Secret],
                 number: int) -> bool:
    """Pull write-only values out of an operation; True if nothing else is left in it."""
    path = operation.path
    if path is not None:
        attribute = schema.attribute(path.attr)
        if attribute is None or attribute.mutability != "writeOnly":
            return False
        if operation.op == "remove" or path.sub or path.filter:
            raise invalid_value(
                f"Operation {number}: {attribute.name} can only be set (add or replace)."
            )
        secrets[attribute.name] = write_only_secret(attribute.name, operation.value)
        operation.value = None
        return True
    if isinstance(operation.value, dict):
        for key in list(operation.value):
            name = schema.strip_urn(str(key))
            attribute = schema.attribute(name) if name else None
            if attribute is not None and attribute.mutability == "writeOnly":
                secrets[attribute.name] = write_only_secret(
                    attribute.name, operation.value.pop(key)
                )
    return False


def apply_patch(doc: dict[str, Any], operations: list[Operation],
                schema: ResourceSchema) -> dict[str, Any]:
    """Apply the operations in order to a copy of ``doc`` and return it."""
    result = copy.deepcopy(doc)
    for number, operation in enumerate(operations, start=1):
        _Applier(result, schema, number).apply(operation)
    for attribute in schema.attributes:
        # Removing a required attribute would leave a resource its schema forbids
        # (RFC 7644 §3.5.2: an operation must be compatible with the schema).
        if attribute.required and _assigned(doc.get(attribute.name)) \
                and not _assigned(result.get(attribute.name)):
            raise invalid_value(f"{attribute.name} is required and cannot be removed; "
                                "replace its value instead.")
    return result


class _Applier:
    def __init__(self, doc: dict[str, Any], schema: ResourceSchema, number: int) -> None:
        self.doc = doc
        self.schema = schema
        self.number = number

    def fail_prefix(self) -> str:
        return f"Operation {self.number}: "

    def apply(self, operation: Operation) -> None:
        if operation.path is None:
            self.apply_without_path(operation)
            return
        path = operation.path
        if self.schema.unkept(path.uri, path.attr):
            return
        if path.uri is not None and path.uri.lower() != self.schema.id.lower():
            raise _invalid_path(f"{self.fail_prefix()}schema {path.uri!r} is not supported.")
        attribute = self.schema.attribute(path.attr)
        if attribute is None:
            raise _invalid_path(
                f"{self.fail_prefix()}{self.schema.name} has no attribute {path.attr!r}."
            )
        sub = None
        if path.sub:
            sub = attribute.sub(path.sub)
            if sub is None:
                raise _invalid_path(
                    f"{self.fail_prefix()}{attribute.name} has no sub-attribute {path.sub!r}."
                )
        if path.filter is not None and not attribute.multi_valued:
            raise _invalid_path(
                f"{self.fail_prefix()}a [filter] applies only to multi-valued attributes; "
                f"{attribute.name} has one value."
            )
        if self.ignored(attribute, sub):
            return
        value = operation.value
        if sub is None and value is not _MISSING and value is not None:
            value = canonical_value(attribute, value)
        if operation.op == "remove":
            self.remove(attribute, sub, path.filter, value)
        elif value is None:
            self.remove(attribute, sub, path.filter, _MISSING)
        else:
            self.write(operation.op, attribute, sub, path.filter, value)

    def ignored(self, attribute: Attribute, sub: Attribute | None) -> bool:
        """Derived and read-only sub-attributes are skipped; read-only attributes refused."""
        target = sub or attribute
        if target.derived or (sub is not None and sub.mutability == "readOnly"
                              and attribute.mutability != "readOnly"):
            return True
        if attribute.mutability == "readOnly":
            raise _mutability(f"{self.fail_prefix()}{attribute.name} is read-only.")
        if sub is not None and sub.mutability == "immutable":
            raise _mutability(
                f"{self.fail_prefix()}{attribute.name}.{sub.name} cannot be changed; "
                f"remove the value and add a new one."
            )
        return False

    def apply_without_path(self, operation: Operation) -> None:
        if operation.op == "remove":
            raise _no_target(f"{self.fail_prefix()}remove needs a path.")
        if not isinstance(operation.value, dict):
            raise invalid_value(
                f"{self.fail_prefix()}without a path, value must be an object of attributes."
            )
        for key, value in operation.value.items():
            name = self.schema.strip_urn(str(key))
            if name and "." in name:
                # {"name.givenName": "Ada"}: not in the RFC, but sent by some clients.
                path = _parse_path(name, self.number)
                if path is not None and self.schema.attribute(path.attr) is not None:
                    self.apply(Operation(operation.op, path, value))
                continue
            attribute = self.schema.attribute(name) if name else None
            if attribute is None or attribute.derived or attribute.mutability == "writeOnly":
                continue
            if attribute.mutability == "readOnly":
                # Clients often echo the whole resource back; only a different id is
                # an attempt to change something, the rest is ignored as in a PUT.
                if attribute.name == "id" and str(value) != str(self.doc.get("id")):
                    raise _mutability(f"{self.fail_prefix()}id cannot be changed.")
                continue
            if value is None:
                self.doc.pop(attribute.name, None)
            else:
                self.write(operation.op, attribute, None, None,
                           canonical_value(attribute, value))

    # -- writing -------------------------------------------------------------

    def write(self, op: str, attribute: Attribute, sub: Attribute | None,
              value_filter: Node | None, value: Any) -> None:
        name = attribute.name
        if not attribute.multi_valued:
            if sub is None:
                current = self.doc.get(name)
                if attribute.is_complex:
                    if not isinstance(value, dict):
                        raise invalid_value(f"{self.fail_prefix()}{name} must be an object.")
                    merged = dict(current) if isinstance(current, dict) else {}
                    merged.update(value)
                    self.doc[name] = merged
                else:
                    self.doc[name] = value
            else:
                current = self.doc.get(name)
                target = dict(current) if isinstance(current, dict) else {}
                target[sub.name] = value
                self.doc[name] = target
            return
        items = self.doc.get(name)
        items = list(items) if isinstance(items, list) else []
        if value_filter is None and sub is None:
            new = value if isinstance(value, list) else [value]
            new = [canonical_value(attribute, v) if attribute.is_complex else v for v in new]
            if attribute.is_complex and not all(isinstance(v, dict) for v in new):
                raise invalid_value(f"{self.fail_prefix()}{name} values must be objects.")
            if op == "replace":
                items = []
            touched = []
            for element in new:
                index = next((i for i, old in enumerate(items) if _same_element(element, old)),
                             None)
                if index is None:
                    items.append(element)
                    touched.append(len(items) - 1)
                else:
                    old = items[index]
                    items[index] = {**old, **element} if isinstance(old, dict) else element
                    touched.append(index)
            _one_primary(items, touched)
            self.doc[name] = items
            return
        matched = [i for i, el in enumerate(items)
                   if value_filter is None or self.matches(value_filter, el, attribute)]
        if not matched:
            if value_filter is None or op == "add":
                items.append(self.new_element(attribute, value_filter, sub, value))
                self.doc[name] = items
                return
            raise _no_target(f"{self.fail_prefix()}no {name} value matches the filter.")
        for index in matched:
            element = dict(items[index]) if isinstance(items[index], dict) else {}
            if sub is not None:
                element[sub.name] = value
            elif not isinstance(value, dict):
                raise invalid_value(f"{self.fail_prefix()}{name} values must be objects.")
            else:
                self.check_immutable(attribute, element, value)
                element = {**element, **value} if op == "add" else dict(value)
            items[index] = element
        _one_primary(items, matched)
        self.doc[name] = items

    def check_immutable(self, attribute: Attribute, element: dict[str, Any],
                        value: dict[str, Any]) -> None:
        """A value picked by a filter keeps its immutable sub-attributes (RFC 7643 §2.2):
        ``members[value eq "1"]`` cannot be rewritten into another member."""
        for sub in attribute.sub_attributes:
            # A $ref follows from the value and may be written differently (relative).
            if sub.mutability != "immutable" or sub.type == "reference" \
                    or sub.name not in value or sub.name not in element:
                continue
            new, old = str(value[sub.name]), str(element[sub.name])
            same = new == old if sub.case_exact else new.casefold() == old.casefold()
            if not same:
                raise _mutability(
                    f"{self.fail_prefix()}{attribute.name}.{sub.name} cannot be changed; "
                    f"remove the value and add a new one."
                )

    def new_element(self, attribute: Attribute, value_filter: Node | None,
                    sub: Attribute | None, value: Any) -> dict[str, Any]:
        """An 'add' whose filter matched nothing creates the element the filter describes."""
        element = equalities(value_filter, attribute) if value_filter is not None else {}
        if element is None:
            raise _no_target(
                f"{self.fail_prefix()}no {attribute.name} value matches the filter, and the "
                "filter does not describe a new one (use only 'eq' joined by 'and')."
            )
        if sub is not None:
            element[sub.name] = value
        elif isinstance(value, dict):
            element.update(value)
        else:
            raise invalid_value(f"{self.fail_prefix()}{attribute.name} values must be objects.")
        return element

    # -- removing ------------------------------------------------------------

    def remove(self, attribute: Attribute, sub: Attribute | None,
               value_filter: Node | None, value: Any) -> None:
        name = attribute.name
        if name not in self.doc:
            return
        if not attribute.multi_valued:
            if sub is None:
                del self.doc[name]
            elif isinstance(self.doc[name], dict):
                self.doc[name] = {k: v for k, v in self.doc[name].items() if k != sub.name}
            return
        items = self.doc[name] if isinstance(self.doc[name], list) else []
        if value_filter is None and sub is None:
            if value is _MISSING or value is None:
                del self.doc[name]
                return
            # Not in the RFC, but sent by common clients: remove the listed values.
            listed = value if isinstance(value, list) else [value]
            listed = [canonical_value(attribute, v) for v in listed]
            items = [el for el in items if not any(_same_element(v, el) for v in listed)]
        else:
            kept = []
            for element in items:
                hit = value_filter is None or self.matches(value_filter, element, attribute)
                if not hit:
                    kept.append(element)
                elif sub is not None and isinstance(element, dict):
                    kept.append({k: v for k, v in element.items() if k != sub.name})
            items = kept
        if items:
            self.doc[name] = items
        else:
            del self.doc[name]

    # -- value filters -------------------------------------------------------

    def matches(self, node: Node, element: Any, attribute: Attribute) -> bool:
        try:
            return matches(node, element, attribute)
        except FilterSyntaxError as exc:
            raise _invalid_path(f"{self.fail_prefix()}{exc}") from None


def _assigned(value: Any) -> bool:
    """RFC 7643 §2.5: null, an empty list and an empty object all mean unassigned."""
    return value is not None and value != [] and value != {}


def _same_element(a: Any, b: Any) -> bool:
    """Multi-valued values are the same when their 'value' is (or, without one, all is)."""
    if isinstance(a, dict) and isinstance(b, dict) and "value" in a and "value" in b:
        return str(a["value"]) == str(b["value"])
    return a == b


def _one_primary(items: list[Any], touched: list[int]) -> None:
    """Only one value may be primary (RFC 7643 §2.4): the last one written wins."""
    written = [i for i in touched if isinstance(items[i], dict) and items[i].get("primary") is True]
    if not written:
        return
    keep = written[-1]
    for index, element in enumerate(items):
        if index != keep and isinstance(element, dict) and element.get("primary"):
            items[index] = {**element, "primary": False}
