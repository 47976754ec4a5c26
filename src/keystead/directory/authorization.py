"""Who may act on whom: the one decision every door asks before acting on a person.

An *actor* is whoever asks: an administrator signed in to the console, an API
token (REST API, SCIM), the operator at the command line, or a person acting on
their own account through a door that proved who they are (the portal, a
reset link). Each action on a person needs one Django permission, and an
account with console access (staff or superuser) may be acted on only by a
superuser, so a help desk cannot take over the administrators it answers to.

A token acts with the permissions its scopes stand for, intersected with its
owner's own, so it never does more than its owner may. It counts as a
superuser only with the ``admin`` scope and a superuser owner. A token without
an owner was made on the command line and acts for the operator.

The services in ``directory.services``, ``login.lockout`` and ``login.sessions``
call ``require`` themselves, so a new door cannot forget it; the doors call
``allowed`` only to decide what to offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from keystead.api.models import ApiToken
    from keystead.directory.models import User


class Action(Enum):
    """An action on a person: the permission it needs and how a refusal names it."""

    CREATE = ("directory.add_user", "create people")
    CHANGE = ("directory.change_user", "change people's details")
    DISABLE = ("directory.change_user", "disable or enable people")
    SET_PASSWORD = ("directory.set_user_password", "set people's passwords")
    DELETE = ("directory.delete_user", "delete people")
    UNLOCK = ("directory.unlock_user", "unlock people")
    RESET_FACTORS = ("directory.change_user", "reset people's second factors")
    SIGN_OUT = ("directory.change_user", "sign people out everywhere")
    # Joining or leaving a group or a role changes what a person may do (the group's logon
    # policy, the applications and accounts a role brings): an action on that person.
    JOIN_GROUP = ("directory.change_group", "add people to groups or take them out")
    HOLD_ROLE = ("directory.change_role", "give people roles or take them away")
    # Ending one person's tokens in one application signs that person out of it.
    REVOKE_IN_APPLICATION = ("oauth2_provider.change_application",
                             "end people's tokens in an application")

    @property
    def permission(self) -> str:
        return self.value[0]

    @property
    def words(self) -> str:
        return self.value[1]


# What a person may do to their own account through a door that proved who they are.
SELF_SERVICE_ACTIONS = frozenset({Action.SET_PASSWORD, Action.SIGN_OUT})
# Nobody disables or deletes the account they are acting from.
NOT_ON_ONESELF = frozenset({Action.DISABLE, Action.DELETE})

_USER_WRITE = frozenset({"directory.view_user", "directory.add_user", "directory.change_user",
                         "directory.delete_user", "directory.set_user_password",
                         "directory.unlock_user"})
_GROUP_WRITE = frozenset({"directory.view_group", "directory.add_group",
                          "directory.change_group", "directory.delete_group"})
_ROLE_WRITE = frozenset({"directory.view_role", "directory.add_role", "directory.change_role",
                         "directory.delete_role"})
_POLICY_READ = frozenset({"policy.view_logonpolicy", "policy.view_grouppolicy"})
_POLICY_WRITE = _POLICY_READ | {"directory.manage_policy", "policy.change_logonpolicy",
                                "policy.add_grouppolicy", "policy.change_grouppolicy",
                                "policy.delete_grouppolicy"}
_CLIENT_WRITE = frozenset({"oauth2_provider.view_application",
                           "oauth2_provider.add_application",
                           "oauth2_provider.change_application",
                           "oauth2_provider.delete_application"})
_TOKEN_ADMIN = frozenset({"api.view_apitoken", "api.add_apitoken", "api.change_apitoken",
                          "api.delete_apitoken"})
_PROVISIONING_READ = frozenset({
    "provisioning.view_system", "provisioning.view_mappedattribute",
    "provisioning.view_rolesystem", "provisioning.view_passwordpolicy",
    "provisioning.view_operation", "provisioning.view_archivedoperation"})
_PROVISIONING_WRITE = _PROVISIONING_READ | {
    f"provisioning.{verb}_{model}" for verb in ("add", "change", "delete")
    for model in ("system", "mappedattribute", "rolesystem", "passwordpolicy")
} | {"provisioning.change_operation"}

# The permissions each API scope stands for (a token never has more than its owner).
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "users:read": frozenset({"directory.view_user"}),
    "users:write": _USER_WRITE,
    "groups:read": frozenset({"directory.view_group"}),
    "groups:write": _GROUP_WRITE,
    "roles:read": frozenset({"directory.view_role"}),
    "roles:write": _ROLE_WRITE,
    "events:read": frozenset({"directory.view_event"}),
    "policy:read": _POLICY_READ,
    "policy:write": _POLICY_WRITE,
    "clients:read": frozenset({"oauth2_provider.view_application"}),
    "clients:write": _CLIENT_WRITE,
    "provisioning:read": _PROVISIONING_READ,
    "provisioning:write": _PROVISIONING_WRITE,
    "scim": _USER_WRITE | _GROUP_WRITE,
}
SCOPE_PERMISSIONS["admin"] = frozenset().union(*SCOPE_PERMISSIONS.values()) | _TOKEN_ADMIN

# What using a scope at all needs besides the scope. Each write is then decided by its
# service with the permission the console asks for (people one by one by ``require``;
# groups, roles, policies, applications and provisioning by ``require_permission``), so
# the API and the console give one person the same answer.
SCOPE_NEEDS: dict[str, frozenset[str]] = {
    **SCOPE_PERMISSIONS,
    "users:write": frozenset({"directory.view_user"}),
    "scim": frozenset({"directory.view_user", "directory.view_group"}),
    "policy:write": frozenset({"directory.manage_policy"}),
    "clients:write": frozenset({"oauth2_provider.view_application"}),
    "groups:write": frozenset({"directory.view_group"}),
    "roles:write": frozenset({"directory.view_role"}),
    "provisioning:write": frozenset({"provisioning.view_system"}),
}


class NotAllowed(PermissionDenied):
    """The actor may not do this; the message says what is missing, in plain words.

    ``audited``: the refusal's event is recorded for good (it was written outside any
    transaction, so no rollback takes it back), and the door that answers records
    nothing more. Otherwise the door records one (``api.refused``, ``scim.refused``).
    """

    def __init__(self, message: str, *, audited: bool = False) -> None:
        super().__init__(message)
        self.audited = audited


def recorded_for_good() -> bool:
    """Whether an event written now stays whatever happens next: not inside a
    transaction, which an exception would roll back with the event in it."""
    from django.db import connection

    return not connection.in_atomic_block


@dataclass(frozen=True)
class Actor:
    label: str
    permissions: frozenset[str]
    superuser: bool = False
    user: User | None = None  # the person acting (the token's owner for a token)
    self_service: bool = False  # acting on their own account only, identity proven
    expires_at: datetime | None = None  # a token's expiry: nothing it makes outlives it

    @classmethod
    def person(cls, user: User) -> Actor:
        """An administrator acting through the console with their own permissions."""
        active = bool(user.is_active)
        return cls(label=user.email, permissions=frozenset(user.get_all_permissions())
                   if active else frozenset(), superuser=active and user.is_superuser, user=user)

    @classmethod
    def themselves(cls, user: User) -> Actor:
        """A person acting on their own account (portal, reset link)."""
        return cls(label=user.email, permissions=frozenset(), user=user, self_service=True)

    @classmethod
    def token(cls, token: ApiToken) -> Actor:
        """An API token: its scopes' permissions within its owner's (the operator's if none)."""
        scoped = frozenset().union(*(SCOPE_PERMISSIONS.get(s, frozenset())
                                     for s in token.scopes))
        owner = token.owner
        label = f"{owner.email if owner else 'token'} (token {token.key_id})"
        if owner is None:
            return cls(label=label, permissions=scoped, superuser="admin" in token.scopes,
                       expires_at=token.expires_at)
        mine = cls.person(owner)  # a superuser's permissions are all of them
        return cls(label=label, permissions=scoped & mine.permissions,
                   superuser=mine.superuser and "admin" in token.scopes, user=owner,
                   expires_at=token.expires_at)


OPERATOR = Actor(label="operator (command line)", permissions=SCOPE_PERMISSIONS["admin"],
                 superuser=True)


def is_administrator(person: User) -> bool:
    """An account with console access: only a superuser may act on it."""
    return bool(person.is_staff or person.is_superuser)


def refusal(actor: Actor, action: Action, target: User | None) -> str | None:
    """Why ``actor`` may not do ``action`` to ``target`` (None: a new person), or None."""
    if actor.self_service:
        own = target is not None and actor.user is not None and target.pk == actor.user.pk
        return None if own and action in SELF_SERVICE_ACTIONS else f"You may not {action.words}."
    if not actor.superuser and action.permission not in actor.permissions:
        return f"{actor.label} may not {action.words} (needs the {action.permission} permission)."
    if target is None:
        return None
    if action in NOT_ON_ONESELF and actor.user is not None and target.pk == actor.user.pk:
        return "Nobody may disable or delete their own account: ask another administrator."
    if is_administrator(target) and not actor.superuser:
        return (f"{target.email} has console access: only a superuser may act on such an "
                "account.")
    return None


def allowed(actor: Actor, action: Action, target: User | None) -> bool:
    return refusal(actor, action, target) is None


def may_change_installation_settings(person: User) -> bool:
    """Whether ``person`` may change settings of the whole installation (what the console
    offers; the services decide with ``require_installation_setting``): an active
    superuser, as ``Actor.person`` has it, without loading every permission."""
    return bool(person.is_active and person.is_superuser)


def may_change_admin_roles(person: User) -> bool:
    """Whether ``person`` may create, change or delete admin roles: an active superuser.
    An admin role is a bundle of console permissions, so whoever could change one they
    hold could give themselves any permission; who holds which role is likewise a
    superuser's to change (the person page)."""
    return may_change_installation_settings(person)


def require_installation_setting(person: User, *, event: str, words: str,
                                 request=None, detail: dict | None = None) -> None:
    """Settings of the whole installation (branding, mail wording) are a superuser's:
    they speak for everyone. A refusal is audited as ``event`` and raised as
    ``NotAllowed`` (a 403 in the console)."""
    if may_change_installation_settings(person):
        return
    from keystead.directory import audit  # audit imports the models; this module must not
    from keystead.directory.models import Outcome

    audit.record(event, request=request, actor=person, outcome=Outcome.DENIED,
                 detail={**(detail or {}), "reason": f"only a superuser may {words}"})
    raise NotAllowed(f"Only a superuser may {words}.")


def require_permission(actor: Actor, permission: str, words: str, event: str,
                       request=None, detail: dict | None = None) -> None:
    """Actions on things other than people (connected systems, computers, the queue)
    need one Django permission: a refusal is audited as ``event`` and raised as
    ``NotAllowed`` naming the permission."""
    if actor.superuser or permission in actor.permissions:
        return
    from keystead.directory import audit  # audit imports the models; this module must not
    from keystead.directory.models import Outcome

    audit.record(event, request=request, actor=actor.user, actor_label=actor.label,
                 outcome=Outcome.DENIED,
                 detail={**(detail or {}), "reason": f"needs {permission}"})
    raise NotAllowed(f"{actor.label} may not {words} (needs the {permission} permission).",
                     audited=recorded_for_good())


def require(actor: Actor, action: Action, target: User | None) -> None:
    """Raise ``NotAllowed`` (a ``PermissionDenied``) unless ``actor`` may do it."""
    reason = refusal(actor, action, target)
    if reason is not None:
        raise NotAllowed(reason)


def may_use_scope(actor: Actor, scope: str) -> bool:
    """Whether a token's actor holds what using ``scope`` needs at all."""
    return actor.superuser or SCOPE_NEEDS.get(scope, frozenset()) <= actor.permissions
