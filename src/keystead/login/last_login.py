"""``last_login`` written with one UPDATE of the column, on every sign-in through any door.

Django's own receiver (``django.contrib.auth.models.update_last_login``) saves
the user model with ``update_fields``: the same single UPDATE, reached through
the model's save machinery (our ``User.save``, ``pre_save``/``post_save``
signals, field checks, the ORM's statement building). On the password
sign-in, the hot path, that machinery cost more CPU than the statement
itself; here it is one plain, prepared statement (``hot_sql``). This receiver
takes its place
under the same ``dispatch_uid``, so Django's is not connected (see
``LoginConfig.ready``); nothing listens for ``post_save`` of a user's
``last_login``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.utils import timezone

from keystead import hot_sql

DISPATCH_UID = "update_last_login"  # django.contrib.auth's, so only one of the two runs


@cache
def _update_sql(model: type) -> str:
    return (f"UPDATE {hot_sql.table(model)} SET "  # noqa: S608 (names from the model)
            f"{hot_sql.column(model, 'last_login')} = %s "
            f"WHERE {hot_sql.column(model, model._meta.pk.name)} = %s")


def record_last_login(sender: Any, user: Any, **kwargs: Any) -> None:
    model = type(user)
    user.last_login = timezone.now()
    hot_sql.write_at_commit(_update_sql(model),
                            [hot_sql.db_value(model, "last_login", user.last_login), user.pk])
