"""Directory operations shared by every door: the admin console, the REST API, SCIM, the CLI.

Each function asks ``authorization`` whether its actor may act on the person,
validates with the pure rules, writes in one transaction and records an audit
Event, so no door can skip a check or forget the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from keystead.columns import too_long_for
from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require, require_permission
from keystead.directory.models import Group, Role, Source, User
from keystead.directory.rules import (
    Conflict,
    FieldProblem,
    RuleViolation,
    name_problems,
    normalize_email,
    person_problems,
)
from keystead.directory.signals import (
    access_ended,
    email_changed,
    password_changed,
    person_changed,
)
from keystead.policy import services as policy_services
from keystead.policy.rules import PasswordRules, Person
from keystead.row_locks import lock_and_read_again
from keystead.secret import Secret

__all__ = ["Conflict", "RuleViolation"]  # re-exported: every door catches these from here

PERSON_FIELDS = ("username", "email", "given_name", "family_name", "is_active", "source",
                 "source_id", "external_id")


def _others(exclude_pk: int | None):
    return User.objects.exclude(pk=exclude_pk) if exclude_pk is not None else User.objects.all()


def name_conflicts(username: str, email: str, external_id: str, *,
                   exclude_pk: int | None) -> list[FieldProblem]:
    """Which of the person's names another person already has. Email and user name
    share one namespace for sign-in, so neither may equal the other kind of name of
    someone else: a typed name then always means one person."""
    others = _others(exclude_pk)
    problems = []
    # A user name that is the email itself is checked once, as the email.
    if username.lower() != email.lower() and others.signing_in_as(username).exists():
        problems.append(FieldProblem(
            "username", f"A user with this user name already exists: {username!r} is "
                        "another person's user name or email; choose another."))
    if others.signing_in_as(email).exists():
        problems.append(FieldProblem(
            "email", f"A user with this email already exists: {email!r} is another "
                     "person's email or user name."))
    if external_id and others.filter(external_id=external_id).exists():
        problems.append(FieldProblem(
            "external_id", f"A user with this external id already exists: {external_id!r} "
                           "belongs to another person."))
    return problems


def _check_person(values: dict[str, Any], *, exclude_pk: int | None = None) -> None:
    """Rules, then uniqueness; ``values`` holds every person field (a user name
    defaulted already)."""
    problems = person_problems(
        email=values.get("email"),
        given_name=values.get("given_name"),
        family_name=values.get("family_name"),
        username=values.get("username"),
    )
    if problems:
        raise RuleViolation(problems)
    source = values.get("source", Source.LOCAL)
    if source not in Source.values:
        raise RuleViolation(
            [FieldProblem("source", f"Source must be one of: {', '.join(Source.values)}.")]
        )
    conflicts = name_conflicts(values["username"], normalize_email(values["email"]),
                                (values.get("external_id") or "").strip(),
                                exclude_pk=exclude_pk)
    if conflicts:
        raise Conflict(conflicts)


def _with_username(values: dict[str, Any], current: User | None) -> dict[str, Any]:
    """``values`` with the user name settled: as given; else, for a new person or one
    whose user name was their email, the (new) email; else the current one."""
    if values.get("username"):
        return values
    follows_email = current is None or current.username.lower() == current.email.lower()
    email = values.get("email") or ""
    username = (normalize_email(email) if follows_email and email.strip()
                else current.username if current else "")
    return {**values, "username": username}


def _apply_person(user: User, values: dict[str, Any]) -> None:
    for field in PERSON_FIELDS:
        if field in values and values[field] is not None:
            value = values[field]
            if isinstance(value, str) and field != "username":  # the rules refuse its spaces
                value = value.strip()
            setattr(user, field, value)
    user.email = normalize_email(user.email)


def _save(obj) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        what = "email, user name or external id" if isinstance(obj, User) else "name"
        raise Conflict([FieldProblem("email" if isinstance(obj, User) else "name",
                                     f"This {what} was taken by another record saved at the "
                                     "same moment; read it again and retry.")]) from exc


def _require_acceptable(user: User, password: Secret) -> PasswordRules:
    """Refuse ``password`` unless it meets the user's policy; the rules it met."""
    if not password:
        raise RuleViolation([FieldProblem("password", "Password must not be empty.")])
    rules = policy_services.effective_policy(user if user.pk else None).password
    policy_services.require_acceptable(
        password, user=user if user.pk else None, rules=rules,
        person=Person(email=user.email, given_name=user.given_name,
                      family_name=user.family_name),
    )
    return rules


def _apply_password(user: User, password: Secret) -> None:
    """Check ``password`` against the user's policy, keep the old hash, then set it.

    Callers set the person fields first, so the personal-information rule sees
    the name and email the user is about to have.
    """
    rules = _require_acceptable(user, password)
    user.password_rules_passed = policy_services.rules_fingerprint(rules)
    policy_services.remember_current_password(user)
    user.set_password(password.reveal())
    # Stamped here, not in User.set_password: a hash upgraded at sign-in is not a new password.
    user.password_changed_at = timezone.now()
    user.must_change_password = False


@transaction.atomic
def create_user(
    values: dict[str, Any],
    *,
    actor: Actor,
    password: Secret | None = None,
    request: HttpRequest | None = None,
    door: str = "api",
) -> User:
    require(actor, Action.CREATE, None)
    if password:
        require(actor, Action.SET_PASSWORD, None)
    values = _with_username(values, None)
    _check_person(values)
    user = User()
    _apply_person(user, values)
    if password:
        _apply_password(user, password)
    else:
        user.set_unusable_password()
    _save(user)
    audit.record("user.create", request=request, target=user,
                 detail={"door": door, "password_set": bool(password)})
    return user


@transaction.atomic
def update_user(
    user: User,
    values: dict[str, Any],
    *,
    actor: Actor,
    password: Secret | None = None,
    request: HttpRequest | None = None,
    door: str = "api",
) -> User:
    lock_and_read_again(user, "person")
    require(actor, Action.CHANGE, user)
    if values.get("is_active") is not None and bool(values["is_active"]) != user.is_active:
        require(actor, Action.DISABLE, user)
    if password:
        require(actor, Action.SET_PASSWORD, user)
    merged = {field: getattr(user, field) for field in PERSON_FIELDS if field != "username"}
    merged.update({k: v for k, v in values.items() if v is not None})
    merged = _with_username(merged, user)
    _check_person(merged, exclude_pk=user.pk)
    before = {field: getattr(user, field) for field in PERSON_FIELDS}
    _apply_person(user, merged)
    passed_on: dict[str, Any] = {}
    if password:
        _apply_password(user, password)
        passed_on = _pass_on_password(user, password)
    _save(user)
    changed = sorted(f for f in PERSON_FIELDS if getattr(user, f) != before[f])
    if changed:
        person_changed.send(sender=User, user=user, request=request, changed=changed,
                            before={f: before[f] for f in changed})
    audit.record("user.update", request=request, target=user,
                 detail={"door": door, "changed": changed, "password_set": bool(password)})
    if password:
        audit.record("user.password.set", request=request, target=user,
                     detail={"door": door, **passed_on})
        password_changed.send(sender=User, user=user, request=request)
    if "is_active" in changed:
        _announce_active(user, request=request, door=door)
    if "email" in changed:
        email_changed.send(sender=User, user=user, request=request)
    return user


@transaction.atomic
def set_active(user: User, active: bool, *, actor: Actor, request: HttpRequest | None = None,
               door: str = "api", details: dict[str, Any] | None = None) -> bool:
    """Enable or disable an account; True if it changed. Disabling ends the person's access.

    ``details`` are the person's other fields the same save changed (name -> value
    before): they are announced with being active in one ``person_changed``, so a
    connected system gets one update, as from ``update_user``. Nothing is sent when
    being active did not change; the caller announces the details then."""
    require(actor, Action.DISABLE, user)
    if not User.objects.filter(pk=user.pk).exclude(is_active=active).update(
            is_active=active, updated_at=timezone.now()):
        return False
    user.is_active = active
    details = details or {}
    person_changed.send(sender=User, user=user, request=request,
                        changed=[*details, "is_active"],
                        before={**details, "is_active": not active})
    _announce_active(user, request=request, door=door)
    return True


def _announce_active(user: User, *, request: HttpRequest | None, door: str) -> None:
    audit.record("user.activate" if user.is_active else "user.deactivate", request=request,
                 target=user, detail={"door": door})
    if not user.is_active:
        access_ended.send(sender=User, user=user, request=request, reason="account disabled")


def _pass_on_password(user: User, password: Secret, *, user_change: bool = False,
                      old_password: Secret | None = None, must_change: bool = False,
                      accounts: Collection[int] | None = None, with_keystead: bool = True
                      ) -> dict[str, Any]:
    """Hand a new password, already checked against Keystead's policy, to where it must
    also go, before the caller saves it: connected systems (``accounts``, default all;
    their policies and password scripts refuse first; the queued operations roll back
    with the rest if anything later refuses) and, when Keystead's own password changes
    (``with_keystead``), a writable LDAP source, which holds that password. Returns
    what to add to the audit detail."""
    from keystead.provisioning.services import queue_password_change
    from keystead.sources.ldap.writeback import write_password

    provisioned = queue_password_change(
        user, password, current=old_password if user_change else None, accounts=accounts,
        with_keystead=with_keystead)
    written = with_keystead and write_password(
        user, password, user_change=user_change, old_password=old_password,
        must_change=must_change)
    detail: dict[str, Any] = {}
    if accounts is not None:
        detail["accounts"] = sorted({f"{op.account_name} on {op.system.name}"
                                     for op in provisioned})
    if not with_keystead:
        detail["keystead"] = "unchanged"
    if written:
        detail["directory"] = "written"
    if provisioned:
        detail["provisioning_operations"] = len(provisioned)
    return detail


@transaction.atomic
def set_password(
    user: User, password: Secret, *, actor: Actor, request: HttpRequest | None = None,
    door: str = "api", action: str = "user.password.set", must_change: bool = False,
    old_password: Secret | None = None, accounts: Collection[int] | None = None,
    with_keystead: bool = True,
) -> None:
    """Set a new password, by an administrator (``user.password.set``), the person
    (``user.password.change``) or a reset link (``user.password.reset``).

    ``must_change`` makes it temporary (Keycloak's "temporary" password): the
    person must choose their own at their next sign-in.

    A person from a writable LDAP source gets it written to the directory first
    (``sources.ldap.writeback``; ``old_password`` lets the person's own change
    prove itself there); a refusal there refuses the whole change.

    The person may send it to some of their accounts on connected systems only
    (``accounts``, ids; default every one), and leave Keystead's own password as it
    is (``with_keystead`` False), as identity managers let people do: the new
    password must still meet Keystead's policy. Then nothing of Keystead's changes.

    Otherwise other sessions end (Django ties a session to the password hash), and the
    ``password_changed`` signal lets token issuers revoke what they handed out.
    """
    require(actor, Action.SET_PASSWORD, user)
    if not with_keystead and (must_change or not accounts):
        raise RuleViolation([FieldProblem(
            "accounts", "Choose where the new password goes: Keystead, or at least one "
                        "of your accounts.", code="nothing_chosen")])
    if with_keystead:
        _apply_password(user, password)
        user.must_change_password = must_change
    else:
        _require_acceptable(user, password)
    detail: dict[str, Any] = {"door": door, **_pass_on_password(
        user, password, user_change=action == "user.password.change",
        old_password=old_password, must_change=must_change, accounts=accounts,
        with_keystead=with_keystead)}
    if with_keystead:
        user.save(update_fields=["password", "password_changed_at", "must_change_password",
                                 "password_rules_passed", "updated_at"])
    if must_change:
        detail["must_change"] = True
    # The actor's person by name: a forced change or a reset link acts before any session
    # says who is there.
    audit.record(action, request=request, actor=actor.user, target=user, detail=detail)
    if with_keystead:
        password_changed.send(sender=User, user=user, request=request)


@transaction.atomic
def delete_user(user: User, *, actor: Actor, request: HttpRequest | None = None,
                door: str = "api") -> None:
    require(actor, Action.DELETE, user)
    audit.record("user.delete", request=request, target=user, detail={"door": door})
    user.delete()


def _check_name(model, name: str | None, label: str, *, exclude_pk: int | None = None) -> str:
    problems = name_problems(name, label=label)
    if problems:
        raise RuleViolation(problems)
    clean = (name or "").strip()
    query = model.objects.filter(name__iexact=clean)
    if exclude_pk is not None:
        query = query.exclude(pk=exclude_pk)
    if query.exists():
        raise Conflict([FieldProblem("name", f"A {label.lower()} named {clean!r} already exists.")])
    return clean


def _members(user_ids: Iterable[int]) -> list[User]:
    ids = list(dict.fromkeys(user_ids))
    users = list(User.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {u.pk for u in users})
    if missing:
        raise RuleViolation(
            [FieldProblem("members", f"No user with id {', '.join(map(str, missing))}.")]
        )
    return users


def _require_on(actor: Actor, permission: str, words: str, event: str, *,
                request: HttpRequest | None, door: str) -> None:
    """Groups decide a person's logon policy and the groups applications are told of;
    roles decide the accounts they hold on connected systems. So each change needs its
    Django permission whichever door asks.
    Checked before the change's transaction, so the refusal's ``event`` (the action the
    change would have recorded) is not rolled back with it."""
    require_permission(actor, permission, words, event, request=request, detail={"door": door})


class _Moved(NamedTuple):
    """What ``_set_related`` added to and removed from a relation."""

    joining: list
    leaving: list

    def names(self) -> dict[str, list[str]]:
        """By name, because "who gained access" is what an auditor asks."""
        return {"added": sorted(map(str, self.joining)),
                "removed": sorted(map(str, self.leaving))}


def _set_related(manager, chosen: list, *, actor: Actor | None = None,
                 action: Action | None = None,
                 people: Callable[[list], Iterable[User]] = list) -> _Moved:
    """Make ``manager`` hold exactly ``chosen``; who or what was added and removed. What
    Django's ``set`` does (the ids held, then ``remove`` and ``add`` with their signals),
    with the ids read once for both the change and its record. With ``action``, the
    people who join or leave (``people`` of the objects added and removed) must each be
    people ``actor`` may do it to."""
    before = set(manager.values_list("pk", flat=True))
    leaving = list(manager.model.objects.filter(pk__in=before - {obj.pk for obj in chosen}))
    joining = [obj for obj in chosen if obj.pk not in before]
    if action is not None:
        _require_on_each(actor, action, people([*leaving, *joining]))
    manager.remove(*leaving)
    manager.add(*joining)
    return _Moved(joining, leaving)


def _stamp_people(people: QuerySet[User], when: datetime) -> None:
    """Move the last-modified time of ``people`` to ``when``, in one UPDATE.

    A person's groups are part of their record (SCIM ``groups``, the API's ``groups``),
    so joining, leaving, or a group's new name changes them (RFC 7643 §3.1
    ``lastModified``); incremental syncs that ask for ``meta.lastModified gt ...``
    must see it. The membership rows live in another table, so their change does not
    save the people; this does, set-based, whatever the size of the group. The rows
    are locked in id order first (in the same statement), so two changes of
    overlapping groups at once wait for each other instead of deadlocking.
    """
    locked = (people.order_by("pk").select_for_update(no_key=True, of=("self",))
              .values("pk"))
    User.objects.filter(pk__in=locked).update(updated_at=when)


def _members_of(groups: Iterable[Group]) -> QuerySet[User]:
    """The people who hold a role through ``groups``: giving a group a role, or taking
    it away, gives or takes it from each of them."""
    return User.objects.filter(directory_groups__in=list(groups)).distinct()


def _require_on_each(actor: Actor, action: Action, people: Iterable[User]) -> None:
    """A membership change acts on each person who joins or leaves, so an account with
    console access joins or leaves only by a superuser's hand."""
    for person in people:
        require(actor, action, person)


def _apply_fields(obj, values: dict[str, str | None]) -> list[str]:
    """Set the given (not None) fields; the names of those whose value changed. A value
    longer than its column holds is refused first, naming the field."""
    too_long = [FieldProblem(field, f"Use at most {limit} characters; this has {len(value)}.")
                for field, value in values.items()
                if value is not None and (limit := too_long_for(obj, field, value))]
    if too_long:
        raise RuleViolation(too_long)
    changed = []
    for field, value in values.items():
        if value is not None and getattr(obj, field) != value:
            setattr(obj, field, value)
            changed.append(field)
    return changed


def _saved_event(action: str, obj, *, creating: bool, changed: list[str],
                 related: dict[str, dict[str, list[str]]], request: HttpRequest | None,
                 door: str) -> None:
    detail: dict[str, Any] = {"door": door}
    moved = {name: change for name, change in related.items()
             if change["added"] or change["removed"]}
    if not creating:
        detail["changed"] = sorted(changed + list(moved))
    detail.update(moved)
    audit.record(f"{action}.{'create' if creating else 'update'}", request=request,
                 target=obj, detail=detail)


def save_group(
    group: Group | None,
    *,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    external_id: str | None = None,
    member_ids: Iterable[int] | None = None,
    request: HttpRequest | None = None,
    door: str = "api",
) -> Group:
    creating = group is None
    if creating:
        _require_on(actor, "directory.add_group", "create groups", "group.create",
                    request=request, door=door)
    else:
        _require_on(actor, "directory.change_group", "change groups", "group.update",
                    request=request, door=door)
    with transaction.atomic():
        if group is None:
            group = Group()
        else:
            lock_and_read_again(group, "group")
        if name is not None or creating:
            name = _check_name(Group, name, "Group", exclude_pk=group.pk)
        changed = _apply_fields(group, {"name": name, "description": description,
                                        "external_id": external_id})
        _save(group)
        related = {}
        moved = _Moved([], [])
        if member_ids is not None:
            moved = _set_related(group.members, _members(member_ids), actor=actor,
                                 action=Action.JOIN_GROUP)
            related["members"] = moved.names()
        # The people whose groups now read differently change with the group, at its time.
        moved_ids = [u.pk for u in (*moved.joining, *moved.leaving)]
        renamed = "name" in changed and not creating
        if moved_ids or renamed:
            people = User.objects.filter(pk__in=moved_ids)
            if renamed:
                people = people | User.objects.filter(directory_groups=group)
            _stamp_people(people, group.updated_at)
        _saved_event("group", group, creating=creating, changed=changed, related=related,
                     request=request, door=door)
        return group


def change_group_members(
    group: Group,
    *,
    actor: Actor,
    add: Iterable[int] = (),
    remove: Iterable[int] = (),
    request: HttpRequest | None = None,
    door: str = "api",
) -> Group:
    _require_on(actor, "directory.change_group", "change group members", "group.members",
                request=request, door=door)
    with transaction.atomic():
        lock_and_read_again(group, "group")
        joining = _members(add)
        already = set(group.members.filter(pk__in=[u.pk for u in joining])
                      .values_list("pk", flat=True))
        leaving = list(group.members.filter(pk__in=list(remove)))
        moved = _Moved([u for u in joining if u.pk not in already], leaving)
        _require_on_each(actor, Action.JOIN_GROUP, [*moved.leaving, *moved.joining])
        group.members.add(*moved.joining)
        group.members.remove(*moved.leaving)
        if moved.joining or moved.leaving:
            # Membership lives in its own table: the group and the people who joined or
            # left are each stamped as changed, at one time.
            group.updated_at = timezone.now()
            Group.objects.filter(pk=group.pk).update(updated_at=group.updated_at)
            _stamp_people(User.objects.filter(pk__in=[u.pk for u in (*moved.joining,
                                                                      *moved.leaving)]),
                          group.updated_at)
        audit.record("group.members", request=request, target=group,
                     detail={"door": door, "members": moved.names()})
        return group


def delete_group(group: Group, *, actor: Actor, request: HttpRequest | None = None,
                 door: str = "api") -> None:
    _require_on(actor, "directory.delete_group", "delete groups", "group.delete",
                request=request, door=door)
    with transaction.atomic():
        lock_and_read_again(group, "group")
        _require_on_each(actor, Action.JOIN_GROUP, group.members.all())
        _stamp_people(User.objects.filter(directory_groups=group), timezone.now())
        audit.record("group.delete", request=request, target=group, detail={"door": door})
        group.delete()


def save_role(
    role: Role | None,
    *,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    user_ids: Iterable[int] | None = None,
    group_ids: Iterable[int] | None = None,
    request: HttpRequest | None = None,
    door: str = "api",
) -> Role:
    creating = role is None
    if creating:
        _require_on(actor, "directory.add_role", "create roles", "role.create",
                    request=request, door=door)
    else:
        _require_on(actor, "directory.change_role", "change roles", "role.update",
                    request=request, door=door)
    with transaction.atomic():
        if role is None:
            role = Role()
        else:
            lock_and_read_again(role, "role")
        if name is not None or creating:
            name = _check_name(Role, name, "Role", exclude_pk=role.pk)
        changed = _apply_fields(role, {"name": name, "description": description})
        _save(role)
        related = {}
        moved = _Moved([], [])
        if user_ids is not None:
            moved = _set_related(role.users, _members(user_ids), actor=actor,
                                 action=Action.HOLD_ROLE)
            related["users"] = moved.names()
        # A person's roles are part of their record in the API (``roles``): those who
        # gained or lost it, or all its holders when it is renamed, change with it.
        moved_ids = [u.pk for u in (*moved.joining, *moved.leaving)]
        if moved_ids or ("name" in changed and not creating):
            people = User.objects.filter(pk__in=moved_ids)
            if "name" in changed and not creating:
                people = people | User.objects.filter(roles=role)
            _stamp_people(people, role.updated_at)
        if group_ids is not None:
            ids = list(dict.fromkeys(group_ids))
            groups = list(Group.objects.filter(pk__in=ids))
            missing = sorted(set(ids) - {g.pk for g in groups})
            if missing:
                raise RuleViolation([FieldProblem(
                    "groups", f"No group with id {', '.join(map(str, missing))}.")])
            related["groups"] = _set_related(role.groups, groups, actor=actor,
                                             action=Action.HOLD_ROLE,
                                             people=_members_of).names()
        _saved_event("role", role, creating=creating, changed=changed, related=related,
                     request=request, door=door)
        return role


def delete_role(role: Role, *, actor: Actor, request: HttpRequest | None = None,
                door: str = "api") -> None:
    _require_on(actor, "directory.delete_role", "delete roles", "role.delete",
                request=request, door=door)
    with transaction.atomic():
        lock_and_read_again(role, "role")
        _require_on_each(actor, Action.HOLD_ROLE,
                         {*role.users.all(), *_members_of(role.groups.all())})
        _stamp_people(User.objects.filter(roles=role), timezone.now())
        audit.record("role.delete", request=request, target=role, detail={"door": door})
        role.delete()
