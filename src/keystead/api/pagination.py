"""Limit/offset pagination with bounds a database can answer.

django-ninja leaves ``offset`` unbounded, and an offset past 2**63 makes
PostgreSQL fail instead of returning an empty page.
"""

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1


class Pages(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(100, ge=1, le=MAX_LIMIT, description="Items per page (1-500).")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Items to skip.")
