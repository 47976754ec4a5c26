"""Who holds a role changes through any door (the console, the API, code): accounts follow.

A person holds a role directly (``Role.users``) or through a directory group
(``Role.groups`` and ``Group.members``), so all three relations are watched.
Django's ``m2m_changed`` signal fires for every way a relation changes
(``add/remove/set/clear`` on either side), inside the caller's transaction,
so a refusal here (a script that fails) undoes the change too.

Each handler only works out which systems and which people the change may
concern; ``roles.follow`` then decides from the state after the change. A
``clear`` is looked at before it happens (the rows are gone afterwards) and
acted on after it. Deleting a whole group or role removes its rows without
``m2m_changed``, so deletions are watched too, the same way.

Renaming a group or a role changes the names scripts get as ``user.groups`` and
``user.roles``: ``pre_save`` reads the stored name and, when it differs, takes
the holders' memberships and checks that every script can send the new name
(a refusal happens before the row is written, whatever the caller's
transaction); ``post_save`` then queues the updates as a membership change
does. A ``QuerySet.update`` of names sends no signal and is not followed.

A person's own life reaches their accounts too (``lifecycle``): the directory's
``person_changed`` signal (details changed, disabled, enabled) and the deletion of
a person. ``pre_delete`` is sent for every person a ``QuerySet.delete`` removes, so
bulk deletion is covered; it runs in the deletion's transaction, before the
accounts lose their link to the person.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from keystead.directory.models import Group, Role, User
from keystead.directory.signals import person_changed
from keystead.provisioning import lifecycle, roles

#: Related ids of a ``clear`` in progress, kept from ``pre_clear`` to ``post_clear``.
_CLEARING = "_provisioning_clearing"
#: The concerned people's groups and roles before a membership change, by person id.
_MEMBERSHIPS = "_provisioning_memberships"


def _concerned(sender: Any, instance: Any, reverse: bool,
               pks: set[int]) -> tuple[list[int], list[User]]:
    """(role ids, people) a change of one of the three relations may concern."""
    if sender is Role.users.through:
        role_ids = [instance.pk] if not reverse else list(pks)
        people = list(User.objects.filter(pk__in=pks)) if not reverse else [instance]
    elif sender is Role.groups.through:
        role_ids = [instance.pk] if not reverse else list(pks)
        group_ids = list(pks) if not reverse else [instance.pk]
        people = list(User.objects.filter(directory_groups__in=group_ids).distinct())
    else:  # Group.members
        group_ids = [instance.pk] if not reverse else list(pks)
        role_ids = list(Role.objects.filter(groups__in=group_ids).distinct()
                        .values_list("pk", flat=True))
        people = list(User.objects.filter(pk__in=pks)) if not reverse else [instance]
    return role_ids, people


def _related_ids(sender: Any, instance: Any, reverse: bool) -> set[int]:
    if sender is Role.users.through:
        related = instance.users if not reverse else instance.roles
    elif sender is Role.groups.through:
        related = instance.groups if not reverse else instance.roles
    else:
        related = instance.members if not reverse else instance.directory_groups
    return set(related.values_list("pk", flat=True))


@receiver(m2m_changed, sender=Role.users.through)
@receiver(m2m_changed, sender=Role.groups.through)
@receiver(m2m_changed, sender=Group.members.through)
def holders_changed(sender: Any, instance: Any, action: str, reverse: bool,
                    pk_set: set[int] | None, **kwargs: Any) -> None:
    if action in ("pre_add", "pre_remove", "pre_clear"):
        if action == "pre_clear":
            pk_set = _related_ids(sender, instance, reverse)
            setattr(instance, _CLEARING, pk_set)
        if pk_set:
            _, people = _concerned(sender, instance, reverse, pk_set)
            setattr(instance, _MEMBERSHIPS, lifecycle.memberships_before(people))
        return
    if action == "post_clear":
        pk_set = getattr(instance, _CLEARING, set())
        setattr(instance, _CLEARING, set())
    elif action not in ("post_add", "post_remove"):
        return
    if not pk_set:
        return
    role_ids, people = _concerned(sender, instance, reverse, pk_set)
    systems = roles.systems_of(role_ids)
    if systems and people:
        roles.follow(systems, people)
    lifecycle.memberships_changed(people, getattr(instance, _MEMBERSHIPS, {}))
    setattr(instance, _MEMBERSHIPS, {})


#: (systems, people) a group or role being deleted concerns, kept until it is gone.
_DELETING = "_provisioning_deleting"


@receiver(pre_delete, sender=Group)
@receiver(pre_delete, sender=Role)
def _before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    if sender is Group:
        role_ids = list(instance.roles.values_list("pk", flat=True))
        people = list(instance.members.all())
    else:
        role_ids = [instance.pk]
        people = list(roles.holders(instance))
    setattr(instance, _DELETING, (roles.systems_of(role_ids) if people else [], people))
    setattr(instance, _MEMBERSHIPS, lifecycle.memberships_before(people))


@receiver(post_delete, sender=Group)
@receiver(post_delete, sender=Role)
def _after_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    systems, people = getattr(instance, _DELETING, ([], []))
    if systems and people:
        roles.follow(systems, people)
    lifecycle.memberships_changed(people, getattr(instance, _MEMBERSHIPS, {}))


#: The holders and their groups and roles before a group or role is renamed.
_RENAMING = "_provisioning_renaming"


@receiver(pre_save, sender=Group)
@receiver(pre_save, sender=Role)
def _before_rename(sender: Any, instance: Any, raw: bool = False,
                   update_fields: Any = None, **kwargs: Any) -> None:
    setattr(instance, _RENAMING, None)
    if raw or instance.pk is None or (update_fields is not None
                                      and "name" not in update_fields):
        return
    old = sender.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
    if old is None or old == instance.name:
        return
    if sender is Group:
        people, held = list(instance.members.all()), "groups"
    else:
        people, held = list(roles.holders(instance)), "roles"
    before = lifecycle.name_changing(people, held, old, instance.name)
    setattr(instance, _RENAMING, (people, before))


@receiver(post_save, sender=Group)
@receiver(post_save, sender=Role)
def _after_rename(sender: Any, instance: Any, **kwargs: Any) -> None:
    renaming = getattr(instance, _RENAMING, None)
    if renaming:
        setattr(instance, _RENAMING, None)
        people, before = renaming
        lifecycle.memberships_changed(people, before)


@receiver(person_changed, sender=User)
def _person_changed(sender: Any, user: User, changed: list[str], before: dict[str, Any],
                    **kwargs: Any) -> None:
    lifecycle.person_changed(user, changed, before)


@receiver(pre_delete, sender=User)
def _person_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    lifecycle.person_deleted(instance)
