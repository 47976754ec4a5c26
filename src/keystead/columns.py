"""How long a value a model's column holds.

Several doors store text that comes from outside (metadata documents, forms, the command
line, a program) in columns of fixed length. A value longer than its column would fail
the save in the database; each service asks here first and refuses it in its own words.
"""

from __future__ import annotations

from django.db.models import Model


def too_long_for(model: type[Model] | Model, field: str, value: str) -> int | None:
    """The length ``model.field`` holds when ``value`` is longer, else None."""
    limit = model._meta.get_field(field).max_length
    return limit if limit is not None and len(value) > limit else None
