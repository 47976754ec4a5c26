"""Joining or leaving a group or a role is an action on the person: an account with console
access joins or leaves only by a superuser's hand, whichever door asks (the services decide;
the console, the REST API and SCIM go through them)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client

from keystead.directory import services
from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Group, Role, User

pytestmark = pytest.mark.django_db

REFUSED = re.escape("boss@example.com has console access")
DIRECTORY_ADMIN = Actor(label="directory administrator", permissions=frozenset({
    "directory.add_group", "directory.change_group", "directory.delete_group",
    "directory.add_role", "directory.change_role", "directory.delete_role"}))


@pytest.fixture
def people() -> tuple[User, User]:
    root = User.objects.create_user("boss@example.com", "Boss", "Admin", is_superuser=True,
                                    is_staff=True)
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    return root, ada


def members(group: Group) -> set[str]:
    return set(group.members.values_list("email", flat=True))


def test_a_non_superuser_cannot_move_an_administrator_in_or_out_of_a_group(people):
    root, ada = people
    admins = services.save_group(None, actor=OPERATOR, name="Administrators",
                                 member_ids=[root.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_group(admins, actor=DIRECTORY_ADMIN, member_ids=[ada.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.change_group_members(admins, actor=DIRECTORY_ADMIN, remove=[root.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.delete_group(admins, actor=DIRECTORY_ADMIN)
    other = services.save_group(None, actor=DIRECTORY_ADMIN, name="Everyone")
    with pytest.raises(NotAllowed, match=REFUSED):
        services.change_group_members(other, actor=DIRECTORY_ADMIN, add=[root.pk])
    assert members(admins) == {"boss@example.com"} and members(other) == set()
    # Ordinary people: the group permission is enough.
    services.change_group_members(admins, actor=DIRECTORY_ADMIN, add=[ada.pk])
    services.save_group(other, actor=DIRECTORY_ADMIN, member_ids=[ada.pk])
    assert members(admins) == {"boss@example.com", "ada@example.com"}
    assert members(other) == {"ada@example.com"}
    # Naming an administrator who stays a member is no change to them.
    services.save_group(admins, actor=DIRECTORY_ADMIN, description="People with root",
                        member_ids=[root.pk, ada.pk])
    # A superuser may.
    services.change_group_members(admins, actor=OPERATOR, remove=[root.pk])
    services.delete_group(admins, actor=OPERATOR)


def test_a_non_superuser_cannot_give_or_take_an_administrators_role(people):
    root, ada = people
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_role(None, actor=DIRECTORY_ADMIN, name="auditors", user_ids=[root.pk])
    assert not Role.objects.exists()
    role = services.save_role(None, actor=OPERATOR, name="auditors", user_ids=[root.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_role(role, actor=DIRECTORY_ADMIN, user_ids=[ada.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.delete_role(role, actor=DIRECTORY_ADMIN)
    assert list(role.users.values_list("email", flat=True)) == ["boss@example.com"]
    services.save_role(role, actor=DIRECTORY_ADMIN, user_ids=[root.pk, ada.pk])
    assert role.users.count() == 2


def test_a_non_superuser_cannot_give_or_take_a_role_through_a_group_of_administrators(people):
    root, ada = people
    admins = services.save_group(None, actor=OPERATOR, name="Administrators",
                                 member_ids=[root.pk])
    readers = services.save_group(None, actor=OPERATOR, name="Readers", member_ids=[ada.pk])
    role = services.save_role(None, actor=DIRECTORY_ADMIN, name="auditors",
                              group_ids=[readers.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_role(role, actor=DIRECTORY_ADMIN, group_ids=[readers.pk, admins.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_role(None, actor=DIRECTORY_ADMIN, name="root", group_ids=[admins.pk])
    assert list(role.groups.values_list("name", flat=True)) == ["Readers"]
    assert not Role.objects.filter(name="root").exists()
    held = services.save_role(None, actor=OPERATOR, name="root", group_ids=[admins.pk])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.save_role(held, actor=DIRECTORY_ADMIN, group_ids=[])
    with pytest.raises(NotAllowed, match=REFUSED):
        services.delete_role(held, actor=DIRECTORY_ADMIN)
    assert list(held.groups.values_list("name", flat=True)) == ["Administrators"]
    # Groups of ordinary people: the role permission is enough.
    services.save_role(role, actor=DIRECTORY_ADMIN, group_ids=[])
    services.delete_role(role, actor=DIRECTORY_ADMIN)
    services.save_role(held, actor=OPERATOR, group_ids=[])


def test_the_console_tells_the_refusal_and_saves_nothing(people):
    root, ada = people
    admins = services.save_group(None, actor=OPERATOR, name="Administrators",
                                 member_ids=[root.pk])
    director = User.objects.create_user("dir@example.com", "Dir", "Ector", is_staff=True)
    director.groups.set(AuthGroup.objects.filter(name="Directory administrator"))
    browser = Client()
    browser.force_login(director)
    url = f"/admin/directory/group/{admins.pk}/change/"
    saved = browser.post(url, {"name": "Administrators", "description": "changed",
                               "members": [ada.pk]}, follow=True)
    assert saved.status_code == 200
    assert "Nothing was saved: boss@example.com has console access" in saved.content.decode()
    admins.refresh_from_db()
    assert members(admins) == {"boss@example.com"} and admins.description == ""
    deleted = browser.post(f"/admin/directory/group/{admins.pk}/delete/", {"post": "yes"},
                           follow=True)
    assert "Nothing was deleted: boss@example.com has console access" in (
        deleted.content.decode())
    assert Group.objects.filter(pk=admins.pk).exists()


def test_a_token_without_the_admin_scope_cannot_add_an_administrator(people, token_for):
    root, _ = people
    group = services.save_group(None, actor=OPERATOR, name="Everyone")
    token = token_for("groups:write")
    answer = Client().post(f"/api/v1/groups/{group.pk}/members",
                           {"add": [root.pk]}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403, answer.content
    assert "console access" in answer.content.decode()
    assert members(group) == set()
