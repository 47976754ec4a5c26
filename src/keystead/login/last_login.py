"""``last_login`` written with one UPDATE of the column, on every sign-in through any door.

Django's own receiver (``django.contrib.auth.models.update_last_login``) saves
the user model with ``update_fields``: the same single UPDATE, reached through
the model's save machinery (our ``User.save``, ``pre_save``/``post_save``
signals, field checks). On the password sign-in, the hot path, that machinery
cost about as much CPU as the statement itself. This receiver takes its place
under the same ``dispatch_uid``, so Django's is not connected (see
``LoginConfig.ready``); nothing listens for ``post_save`` of a user's
``last_login``.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

DISPATCH_UID = "update_last_login"  # django.contrib.auth's, so only one of the two runs


def record_last_login(sender: Any, user: Any, **kwargs: Any) -> None:
    user.last_login = timezone.now()
    type(user)._default_manager.filter(pk=user.pk).update(last_login=user.last_login)
