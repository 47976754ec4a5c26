"""Helpers shared by the routers: fetching a record or answering 404 with its name."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from ninja.errors import HttpError

from keystead.api.schemas import Problem

M = TypeVar("M", bound=Model)

ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem}


def get_or_404(queryset: QuerySet[M], pk: int, label: str) -> M:
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise HttpError(404, f"No {label} with id {pk}.")
    return found
