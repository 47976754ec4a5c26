"""Directory groups, roles and admin roles in the console, each change audited."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from keystead.directory.models import Event, Group, Role
from keystead.directory.rules import RuleViolation

pytestmark = pytest.mark.django_db
GROUPS = "/admin/directory/group/"


def test_group_list_search_and_member_count(root_client, make_user):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    Group.objects.create(name="Engineering").members.add(ada, bob)
    Group.objects.create(name="Finance").members.add(ada)
    response = root_client.get(GROUPS, {"q": "engin"})
    [group] = response.context["cl"].result_list
    assert (group.name, group.member_total) == ("Engineering", 2)
    assert "Members" in response.content.decode()


def test_group_create_and_membership_change_are_audited(root_client, make_user):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    response = root_client.post(GROUPS + "add/", {"name": "Engineering", "description": "",
                                                  "external_id": "", "members": [ada.pk]})
    assert response.status_code == 302
    group = Group.objects.get(name="Engineering")
    created = Event.objects.get(action="group.create")
    assert created.detail["members"] == {"added": ["ada@example.com"], "removed": []}
    root_client.post(f"{GROUPS}{group.pk}/change/", {"name": "Engineering", "description": "",
                                                     "external_id": "", "members": [bob.pk]})
    updated = Event.objects.get(action="group.update")
    assert updated.detail["members"] == {"added": ["bob@example.com"],
                                         "removed": ["ada@example.com"]}
    assert updated.detail["changed"] == ["members"]


def test_group_names_are_unique_regardless_of_case(root_client):
    Group.objects.create(name="Engineering")
    response = root_client.post(GROUPS + "add/", {"name": "engineering"})
    assert "already exists" in str(response.context["adminform"].form.errors)


def test_role_with_users_and_groups(root_client, make_user):
    ada = make_user("ada@example.com")
    team = Group.objects.create(name="Engineering")
    page = root_client.get("/admin/directory/role/add/").content.decode()
    # People by id in a plain box (not a list of everyone in the directory); groups in the
    # browser's own multiple choice list.
    assert 'name="users"' in page and "<select name=\"users\"" not in page
    assert "<select name=\"groups\"" in page and "multiple" in page
    response = root_client.post("/admin/directory/role/add/", {
        "name": "Developers", "description": "", "users": [ada.pk], "groups": [team.pk]})
    assert response.status_code == 302
    role = Role.objects.get()
    assert list(role.users.all()) == [ada] and list(role.groups.all()) == [team]
    assert Event.objects.filter(action="role.create", target_id=str(role.pk)).exists()


def test_admin_role_change_is_audited(root_client):
    role = AuthGroup.objects.get(name="Helpdesk")
    keep = list(role.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="manage_policy")
    response = root_client.post(f"/admin/directory/adminrole/{role.pk}/change/",
                                {"name": "Helpdesk", "permissions": [*keep, extra.pk]})
    assert response.status_code == 302
    event = Event.objects.get(action="admin_role.update")
    assert event.detail["permissions"]["added"] == [str(extra)]


def test_the_console_and_the_api_change_a_group_through_one_service(root_client, api,
                                                                    make_user):
    """The same change leaves the same event whichever door makes it: what changed, and
    who gained or lost membership, by name."""
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    by_console = Group.objects.create(name="Console")
    by_api = Group.objects.create(name="Api")
    root_client.post(f"{GROUPS}{by_console.pk}/change/", {
        "name": "Console", "description": "team", "external_id": "",
        "members": f"{ada.pk},{bob.pk}"})  # as the page's id box sends them
    answer = api.patch(f"/api/v1/groups/{by_api.pk}", {"description": "team",
                                                        "member_ids": [ada.pk, bob.pk]})
    assert answer.status_code == 200, answer.content
    console_event, api_event = Event.objects.filter(action="group.update").order_by("id")
    expected = {"changed": ["description", "members"],
                "members": {"added": ["ada@example.com", "bob@example.com"], "removed": []}}
    assert console_event.detail == {"door": "admin", **expected}
    assert api_event.detail == {"door": "api", **expected}

    role = Role.objects.create(name="Developers")
    root_client.post(f"/admin/directory/role/{role.pk}/change/", {
        "name": "Developers", "description": "", "users": [ada.pk], "groups": [by_api.pk]})
    assert Event.objects.get(action="role.update").detail == {
        "door": "admin", "changed": ["groups", "users"],
        "groups": {"added": ["Api"], "removed": []},
        "users": {"added": ["ada@example.com"], "removed": []}}

    deleted = root_client.post(f"{GROUPS}{by_console.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302 and not Group.objects.filter(pk=by_console.pk).exists()
    assert Event.objects.get(action="group.delete").detail == {"door": "admin"}


def test_a_group_deleted_while_its_page_was_open_is_not_saved_anew(root_client, admin_user):
    """The console hands the service the row as stored; gone meanwhile, the save is
    refused with a message instead of making a new group of the old page's values."""
    group = Group.objects.create(name="Interns")
    page = admin.site.get_model_admin(Group)
    request = RequestFactory().post(f"{GROUPS}{group.pk}/change/")
    request.user = admin_user
    form = page.get_form(request, group)(
        {"name": "Interns", "description": "", "external_id": ""}, instance=group)
    assert form.is_valid(), form.errors
    Group.objects.filter(pk=group.pk).delete()
    with pytest.raises(RuleViolation, match="deleted by someone else"):
        page.save_model(request, form.instance, form, change=True)
    assert not Group.objects.exists()
