"""What a SCIM resource type (Users, Groups) must provide to the shared views.

The views in ``views`` are written once against this interface; ``users`` and
``groups`` implement it with the directory services, so the HTTP handling,
projection, ETags and transactions are the same for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from keystead.api.scim.errors import from_rule_violation, not_found
from keystead.api.scim.projection import Projection
from keystead.api.scim.queries import MAX_ID, ColumnMap
from keystead.api.scim.schemas import ResourceSchema
from keystead.directory.services import RuleViolation
from keystead.secret import Secret

M = TypeVar("M", bound=Model)
DOOR = "scim"


class ResourceKind(ABC, Generic[M]):
    schema: ResourceSchema
    columns: ColumnMap
    noun: str
    field_paths: Mapping[str, str]

    @abstractmethod
    def queryset(self, projection: Projection | None = None) -> QuerySet[M]:
        """All resources, with what rendering needs prefetched."""

    @abstractmethod
    def render(self, obj: M, projection: Projection | None = None) -> dict[str, Any]:
        """The full SCIM representation, meta.version included."""

    @abstractmethod
    def create(self, doc: dict[str, Any], secrets: dict[str, Secret],
               request: HttpRequest) -> M:
        """Create from a canonical payload through the directory services."""

    @abstractmethod
    def save(self, obj: M, before: dict[str, Any], after: dict[str, Any],
             secrets: dict[str, Secret], request: HttpRequest) -> None:
        """Make ``obj`` look like ``after`` (a PUT body or a patched rendering)."""

    @abstractmethod
    def delete(self, obj: M, request: HttpRequest) -> None: ...

    def check_writable(self, obj: M, request: HttpRequest) -> None:
        """Raise a ScimError if this caller may not change ``obj``; by default anyone may."""

    def get(self, resource_id: str, *, lock: bool = False) -> M:
        """The resource, or 404. With ``lock`` the row stays locked until the transaction ends."""
        if not resource_id.isdigit() or int(resource_id) > MAX_ID:
            raise not_found(self.noun, resource_id)
        query = self.queryset()
        if lock:
            query = query.select_for_update(of=("self",))
        obj = query.filter(pk=int(resource_id)).first()
        if obj is None:
            raise not_found(self.noun, resource_id)
        return obj

    def rule_error(self, exc: RuleViolation) -> Exception:
        return from_rule_violation(exc, self.field_paths)
