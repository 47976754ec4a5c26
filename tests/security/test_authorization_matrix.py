"""Who may act on whom, through every door: the console, the REST API, SCIM and the CLI.

Each case takes one actor (a superuser, each ready-made admin role, API tokens of
several scopes with and without an owner, the operator at the command line), one
action on a person and one target (an ordinary person or an administrator), does it
through the door as a client would, and checks the person's stored state: done or
left alone. The expected answers are written out here as tables, not computed by the
code under test.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from keystead.api.tokens import issue_token
from keystead.cli import main
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login.models import SignedInSession

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quartz-Lantern-Meadow-58"
ALL = frozenset({"set_password", "change_email", "disable", "delete", "unlock",
                 "reset_factors", "sign_out"})
SCIM_ACTIONS = frozenset({"set_password", "change_email", "disable", "delete"})
NONE: frozenset[str] = frozenset()
DIRECTORY_ADMIN = ALL - {"unlock"}
HELPDESK = ALL - {"delete"}

# actor → (actions done to an ordinary person, actions done to an administrator)
CONSOLE = {
    "superuser": (ALL, ALL),
    "Directory administrator": (DIRECTORY_ADMIN, NONE),
    "Helpdesk": (HELPDESK, NONE),
    "Security administrator": (frozenset({"unlock"}), NONE),
    "Auditor": (NONE, NONE),
}
# (token scope, its owner: None, "superuser" or a role) → (on a person, on an administrator)
REST = {
    ("users:write", None): (ALL, NONE),
    ("users:write", "superuser"): (ALL, NONE),
    ("users:write", "Helpdesk"): (HELPDESK, NONE),
    ("users:write", "Auditor"): (NONE, NONE),
    ("users:read", None): (NONE, NONE),
    ("scim", None): (NONE, NONE),
    ("admin", None): (ALL, ALL),
    ("admin", "superuser"): (ALL, ALL),
    ("admin", "Helpdesk"): (HELPDESK, NONE),
    ("admin", "Security administrator"): (frozenset({"unlock"}), NONE),
    # Scopes for other resources never reach people.
    **{(scope, None): (NONE, NONE) for scope in (
        "groups:read", "groups:write", "roles:read", "roles:write", "events:read",
        "policy:read", "policy:write", "clients:read", "clients:write",
        "provisioning:read", "provisioning:write")},
}
SCIM = {
    ("scim", None): (SCIM_ACTIONS, NONE),
    ("scim", "superuser"): (SCIM_ACTIONS, NONE),
    ("scim", "Directory administrator"): (SCIM_ACTIONS, NONE),
    # SCIM reads people and groups: an owner who may not see groups cannot use it.
    ("scim", "Helpdesk"): (NONE, NONE),
    ("scim", "Auditor"): (NONE, NONE),
    ("users:write", None): (NONE, NONE),
    ("admin", None): (SCIM_ACTIONS, SCIM_ACTIONS),
    ("admin", "Helpdesk"): (NONE, NONE),
}
CLI = {"operator": (frozenset({"set_password", "unlock", "disable", "delete",
                               "reset_factors", "sign_out"}),) * 2}


def _cases(table: dict, actions: frozenset[str]) -> list:
    """(actor, action, target kind, whether it is done) for every combination."""
    return [pytest.param(actor, action, target, action in done[target == "administrator"],
                         id=f"{actor}-{action}-{target}")
            for actor, done in table.items() for action in sorted(actions)
            for target in ("person", "administrator")]


CASE = "actor, action, target_kind, expected"


def _make(email: str, *, roles: tuple[str, ...] = (), superuser: bool = False) -> User:
    if superuser:
        return User.objects.create_superuser(email, "Super", "User", password=None)
    user = User.objects.create_user(email, "Test", "Person", password=None)
    if roles:
        user.groups.set(AuthGroup.objects.filter(name__in=roles))
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def _owner(kind: str | None) -> User | None:
    if kind is None:
        return None
    if kind == "superuser":
        return _make("owner@example.com", superuser=True)
    return _make("owner@example.com", roles=(kind,))


def _target(kind: str) -> User:
    """The person acted on, locked and signed in somewhere, so every action has an effect."""
    person = _make("target@example.com", superuser=kind == "administrator")
    User.objects.filter(pk=person.pk).update(locked_at=timezone.now(), locked_until=None,
                                             failed_logins=10)
    Client().force_login(person)
    person.refresh_from_db()
    return person


class Effect:
    """The target's state before, and whether ``action`` changed it."""

    def __init__(self, person: User) -> None:
        self.pk, self.password = person.pk, person.password

    def done(self, action: str) -> bool:
        person = User.objects.filter(pk=self.pk).first()
        if action == "delete":
            return person is None
        assert person is not None, "the person was deleted by another action"
        return {
            "set_password": person.password != self.password,
            "change_email": person.email == "changed@example.com",
            "disable": not person.is_active,
            "unlock": person.locked_at is None,
            "reset_factors": Event.objects.filter(action="user.second_factors.reset",
                                                  target_id=str(self.pk)).exists(),
            "sign_out": not Session.objects.filter(session_key__in=list(
                SignedInSession.objects.filter(user_id=self.pk).values_list(
                    "session_id", flat=True))).exists(),
        }[action]


# -- the console ------------------------------------------------------------------------

USERS = "/admin/directory/user/"


def _console(client: Client, action: str, person: User) -> None:
    one = f"{USERS}{person.pk}/"
    bulk = {"disable": "deactivate_users", "reset_factors": "reset_second_factors",
            "sign_out": "sign_out_everywhere"}
    if action == "set_password":
        client.post(f"{one}password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    elif action == "change_email":
        data = {"email": "changed@example.com", "given_name": person.given_name,
                "family_name": person.family_name, "source": person.source,
                "source_id": "", "external_id": "", "is_active": "on", "_save": "Save"}
        if person.is_superuser:
            data.update(is_staff="on", is_superuser="on")
        client.post(f"{one}change/", data)
    elif action == "delete":
        client.post(f"{one}delete/", {"post": "yes"})
    elif action == "unlock":
        client.post(f"{one}unlock/")
    else:
        client.post(USERS, {"action": bulk[action], "_selected_action": [person.pk],
                            "post": "yes"})


@pytest.mark.parametrize(CASE, _cases(CONSOLE, ALL))
def test_console(actor, action, target_kind, expected):
    target = _target(target_kind)
    who = _make("actor@example.com", superuser=True) if actor == "superuser" else \
        _make("actor@example.com", roles=(actor,))
    client = Client()
    client.force_login(who)
    effect = Effect(target)
    _console(client, action, target)
    assert effect.done(action) is expected


# -- the console: the buttons on a person's page ----------------------------------------

#: The page's buttons (``admin_person_actions``) for the actions above; the password is the
#: same ``password/`` page as in ``_console``. Each posts as if "Are you sure?" was answered.
PERSON_PAGE = {"unlock": "unlock", "reset_factors": "reset-factors", "sign_out": "sign-out",
               "disable": "disable"}


def _console_actor(actor: str) -> Client:
    who = _make("actor@example.com", superuser=True) if actor == "superuser" else \
        _make("actor@example.com", roles=(actor,))
    client = Client()
    client.force_login(who)
    return client


@pytest.mark.parametrize(CASE, _cases(CONSOLE, frozenset(PERSON_PAGE)))
def test_console_person_page(actor, action, target_kind, expected):
    target = _target(target_kind)
    client = _console_actor(actor)
    effect = Effect(target)
    response = client.post(f"{USERS}{target.pk}/act/{PERSON_PAGE[action]}/",
                           {"confirmed": "yes"})
    assert response.status_code == 302  # a refusal is a message, never an error page
    assert effect.done(action) is expected


@pytest.mark.parametrize(CASE, _cases(CONSOLE, frozenset({"set_password"})))
def test_console_person_page_reset_mail(actor, action, target_kind, expected):
    """Mailing a reset link is setting a password: the same permission, the same rule."""
    from keystead.login.models import ResetToken

    target = _target(target_kind)
    client = _console_actor(actor)
    client.post(f"{USERS}{target.pk}/act/send-reset-mail/")
    assert ResetToken.objects.filter(user=target).exists() is expected


# -- the REST API -----------------------------------------------------------------------


def _rest(client: Client, token: str, action: str, person: User) -> int:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    one = f"/api/v1/users/{person.pk}"
    if action == "set_password":
        return client.post(f"{one}/password", {"password": NEW_PASSWORD},
                           content_type="application/json", **auth).status_code
    if action in ("change_email", "disable"):
        body = {"email": "changed@example.com"} if action == "change_email" else \
            {"is_active": False}
        return client.patch(one, body, content_type="application/json", **auth).status_code
    if action == "delete":
        return client.delete(one, **auth).status_code
    path = {"unlock": "unlock", "reset_factors": "second-factors/reset",
            "sign_out": "sign-out"}[action]
    return client.post(f"{one}/{path}", **auth).status_code


def _through_a_token(door, actor: tuple[str, str | None], action: str, target_kind: str,
                     expected: bool) -> None:
    """Act with a token of ``actor``'s scope and owner through ``door``: done and 2xx, or
    left alone and 403."""
    target = _target(target_kind)
    effect = Effect(target)
    status = door(Client(), _token(*actor), action, target)
    assert effect.done(action) is expected
    assert status == 403 if not expected else status < 300


def _token(scope: str, owner_kind: str | None) -> str:
    _, clear = issue_token(name="matrix", scopes=[scope], owner=_owner(owner_kind),
                           actor=OPERATOR, door="test")
    return clear.reveal()


@pytest.mark.parametrize(CASE, _cases(REST, ALL))
def test_rest_api(actor, action, target_kind, expected):
    _through_a_token(_rest, actor, action, target_kind, expected)


# -- SCIM -------------------------------------------------------------------------------


def _scim(client: Client, token: str, action: str, person: User) -> int:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/scim/v2/Users/{person.pk}"
    if action == "delete":
        return client.delete(url, **auth).status_code
    path, value = {"set_password": ("password", NEW_PASSWORD),
                   "change_email": ('emails[type eq "work"].value', "changed@example.com"),
                   "disable": ("active", False)}[action]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}]}
    return client.patch(url, body, content_type="application/scim+json", **auth).status_code


@pytest.mark.parametrize(CASE, _cases(SCIM, SCIM_ACTIONS))
def test_scim(actor, action, target_kind, expected):
    _through_a_token(_scim, actor, action, target_kind, expected)


# -- the command line (the operator) ----------------------------------------------------


@pytest.mark.parametrize(CASE, _cases(CLI, CLI["operator"][0]))
def test_command_line(actor, action, target_kind, expected):
    target = _target(target_kind)
    effect = Effect(target)
    command = {"set_password": ["user", "set-password", target.email],
               "unlock": ["user", "unlock", target.email],
               "disable": ["user", "disable", target.email],
               "delete": ["user", "delete", target.email, "--yes"],
               "reset_factors": ["user", "reset-factors", target.email],
               "sign_out": ["user", "sign-out", target.email]}[action]
    result = CliRunner().invoke(main, command, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert effect.done(action) is expected


# -- a token never does more than its owner, beyond people too --------------------------


@pytest.mark.parametrize("owner_kind, status", [
    (None, 200), ("superuser", 200), ("Security administrator", 200),
    ("Helpdesk", 403), ("Auditor", 403),
], ids=["no-owner", "superuser", "security-admin", "helpdesk", "auditor"])
def test_a_policy_token_acts_within_its_owner_s_permissions(owner_kind, status):
    token = _token("policy:write", owner_kind)
    response = Client().patch("/api/v1/policy", {"max_failures": 7},
                              content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == status
    if status == 403:
        assert "never does more than its owner" in response.json()["detail"]
    assert (Event.objects.filter(action__startswith="policy.").exists()) is (status == 200)
