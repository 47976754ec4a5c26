"""Role holders change through any door (the console, the API, code): accounts follow.

Django's ``m2m_changed`` signal on ``Role.users`` fires for every way the
relation changes (``role.users.add/remove/set/clear`` and the reverse
``user.roles…``), inside the caller's transaction, so a refusal here (a script
that fails) undoes the assignment too.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from keystead.directory.models import Role, User
from keystead.provisioning import roles


def _pairs(instance: Any, reverse: bool, pks: set[int]) -> list[tuple[Role, list[User]]]:
    """(role, people) pairs whatever side of the relation changed."""
    if not reverse:
        return [(instance, list(User.objects.filter(pk__in=pks)))]
    return [(role, [instance]) for role in Role.objects.filter(pk__in=pks)]


@receiver(m2m_changed, sender=Role.users.through)
def role_holders_changed(sender: Any, instance: Any, action: str, reverse: bool,
                         pk_set: set[int] | None, **kwargs: Any) -> None:
    if action == "pre_clear":
        pk_set = set((instance.users if not reverse else instance.roles)
                     .values_list("pk", flat=True))
        action = "post_remove"
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    for role, people in _pairs(instance, reverse, pk_set):
        if action == "post_add":
            roles.role_granted(role, people)
        else:
            roles.role_removed(role, people)
