"""/Groups through the whole Django stack."""

import pytest
from django.contrib.auth.models import Permission
from scim_helpers import ScimApi, assert_scim_error

from keystead.api.tokens import issue_token
from keystead.directory import services
from keystead.directory.authorization import OPERATOR, Actor, NotAllowed
from keystead.directory.models import Event, Group, Outcome, Role

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


@pytest.fixture
def people(make_user):
    return [make_user(f"p{i}@example.com", f"Given{i}", f"Family{i}") for i in range(3)]


def test_create_group_with_members(scim, people):
    response = scim.post("Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Tour Guides", "externalId": "okta-1",
        "members": [{"value": str(people[0].pk)}, {"value": str(people[1].pk), "type": "User"}],
    })
    assert response.status_code == 201, response.content
    body = response.json()
    group = Group.objects.get(pk=int(body["id"]))
    assert group.name == "Tour Guides" and group.external_id == "okta-1"
    assert set(group.members.all()) == {people[0], people[1]}
    assert body["displayName"] == "Tour Guides"
    assert body["members"][0] == {
        "value": str(people[0].pk), "display": "Given0 Family0", "type": "User",
        "$ref": f"http://127.0.0.1:8000/scim/v2/Users/{people[0].pk}"}
    assert body["meta"]["resourceType"] == "Group"
    assert Event.objects.get(action="group.create").detail["door"] == "scim"


def test_group_name_is_unique_regardless_of_case(scim):
    assert scim.post("Groups", {"displayName": "Admins"}).status_code == 201
    body = assert_scim_error(scim.post("Groups", {"displayName": "ADMINS"}), 409, "uniqueness")
    assert body["detail"].startswith("displayName")


@pytest.mark.parametrize(("payload", "needle"), [
    ({}, "displayName is required"),
    ({"displayName": "  "}, "displayName is required"),
    ({"displayName": 5}, "displayName"),
    ({"displayName": "G", "members": [{"value": "999999"}]}, "No user with id 999999"),
    ({"displayName": "G", "members": [{"value": "abc"}]}, "not a user id"),
    ({"displayName": "G", "members": [{"value": "1", "type": "Group"}]}, "nested groups"),
    ({"displayName": "G", "members": "everyone"}, "members"),
    ({"displayName": "G", "members": [{"value": "99999999999999999999"}]}, "No user with id"),
])
def test_invalid_groups_are_refused(scim, payload, needle):
    body = assert_scim_error(scim.post("Groups", payload), 400, "invalidValue")
    assert needle in body["detail"]
    assert not Group.objects.exists()


def test_patch_add_and_remove_members_rfc_examples(scim, people):
    group = Group.objects.create(name="Tour Guides")
    group.members.add(people[0])
    before = scim.get(f"Groups/{group.pk}").json()["meta"]
    # RFC 7644 §3.5.2.1: add members.
    response = scim.patch(f"Groups/{group.pk}", {"op": "add", "path": "members", "value": [
        {"display": "Given1", "$ref": "ignored", "value": str(people[1].pk)}]})
    assert response.status_code == 200, response.content
    assert {m["value"] for m in response.json()["members"]} == {str(people[0].pk),
                                                               str(people[1].pk)}
    assert response.json()["meta"]["version"] != before["version"]
    assert response.json()["meta"]["lastModified"] > before["lastModified"]
    # RFC 7644 §3.5.2.2: remove one member by filter.
    response = scim.patch(f"Groups/{group.pk}",
                          {"op": "remove", "path": f'members[value eq "{people[0].pk}"]'})
    assert [m["value"] for m in response.json()["members"]] == [str(people[1].pk)]
    events = Event.objects.filter(action="group.members").order_by("id")
    assert [e.detail["members"] for e in events] == [
        {"added": [people[1].email], "removed": []},
        {"added": [], "removed": [people[0].email]}]


def test_a_member_picked_by_a_filter_cannot_be_rewritten_into_another(scim, people):
    """members.value is immutable (RFC 7643 §4.2, §2.2): a filtered replace or add may not
    turn one member into another; remove the value and add the new one instead."""
    group = Group.objects.create(name="G")
    group.members.add(people[0])
    first, second = str(people[0].pk), str(people[1].pk)
    for op in ("replace", "add"):
        response = scim.patch(f"Groups/{group.pk}", {
            "op": op, "path": f'members[value eq "{first}"]', "value": {"value": second}})
        assert_scim_error(response, 400, "mutability")
        assert list(group.members.all()) == [people[0]]
    same = scim.patch(f"Groups/{group.pk}", {
        "op": "replace", "path": f'members[value eq "{first}"]',
        "value": {"value": first, "display": "ignored", "type": "user",
                  "$ref": f"../Users/{first}"}})
    assert same.status_code == 200, same.content
    assert [m["value"] for m in same.json()["members"]] == [first]


def test_patch_replace_members_and_name_together(scim, people):
    group = Group.objects.create(name="Old")
    group.members.add(people[0], people[1])
    response = scim.patch(f"Groups/{group.pk}",
                          {"op": "replace", "path": "displayName", "value": "New"},
                          {"op": "replace", "path": "members",
                           "value": [{"value": str(people[2].pk)}]})
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.name == "New"
    assert list(group.members.all()) == [people[2]]


def test_patch_remove_all_members(scim, people):
    group = Group.objects.create(name="G")
    group.members.add(*people)
    response = scim.patch(f"Groups/{group.pk}", {"op": "remove", "path": "members"})
    assert "members" not in response.json()
    assert not group.members.exists()


def test_patch_azure_style_remove_with_value(scim, people):
    group = Group.objects.create(name="G")
    group.members.add(*people)
    scim.patch(f"Groups/{group.pk}", {"op": "Remove", "path": "members",
                                      "value": [{"value": str(people[1].pk)}]})
    assert set(group.members.all()) == {people[0], people[2]}


def test_patch_adding_an_unknown_member_changes_nothing(scim, people):
    group = Group.objects.create(name="G")
    response = scim.patch(f"Groups/{group.pk}",
                          {"op": "replace", "path": "displayName", "value": "Renamed"},
                          {"op": "add", "path": "members", "value": [{"value": "424242"}]})
    assert_scim_error(response, 400, "invalidValue")
    group.refresh_from_db()
    assert group.name == "G"


def test_put_group(scim, people):
    group = Group.objects.create(name="G", external_id="x")
    group.members.add(people[0])
    response = scim.put(f"Groups/{group.pk}", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G2",
        "members": [{"value": str(people[1].pk)}, {"value": str(people[2].pk)}]})
    assert response.status_code == 200, response.content
    group.refresh_from_db()
    assert (group.name, group.external_id) == ("G2", "")
    assert set(group.members.all()) == {people[1], people[2]}


def test_delete_group_keeps_its_users(scim, people):
    group = Group.objects.create(name="G")
    group.members.add(*people)
    assert scim.delete(f"Groups/{group.pk}").status_code == 204
    assert not Group.objects.exists()
    for person in people:
        person.refresh_from_db()
    assert Event.objects.filter(action="group.delete").exists()


def test_filter_groups(scim, people):
    a = Group.objects.create(name="Analysts", external_id="A1")
    b = Group.objects.create(name="Builders")
    a.members.add(people[0], people[1])
    b.members.add(people[1])

    def ids(expression):
        response = scim.get("Groups", filter=expression)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["Resources"]]

    assert ids('displayName eq "analysts"') == [str(a.pk)]
    assert ids(f'members.value eq "{people[1].pk}"') == [str(a.pk), str(b.pk)]
    assert ids(f'members[value eq "{people[0].pk}"]') == [str(a.pk)]
    assert ids('externalId eq "a1"') == []
    assert ids('externalId eq "A1"') == [str(a.pk)]
    assert ids(f'id eq "{b.pk}"') == [str(b.pk)]
    assert ids("not (members pr)") == []


def test_excluding_members_keeps_big_groups_cheap(scim, people, django_assert_max_num_queries):
    group = Group.objects.create(name="G")
    group.members.add(*people)
    with django_assert_max_num_queries(8):
        body = scim.get("Groups", excludedAttributes="members").json()
    assert "members" not in body["Resources"][0]


def _scim_for_owner_without_group_rights(client, make_user) -> ScimApi:
    """A ``scim`` token whose owner may manage people but not groups: the scope alone
    needs only to see people and groups, so each group write is the owner's to earn."""
    clerk = make_user("clerk@example.com", "Clerk", "Person", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="directory",
        codename__in=["view_user", "add_user", "change_user", "view_group"]))
    _, clear = issue_token(name="idp", scopes=["scim"], owner=clerk, actor=OPERATOR, door="test")
    return ScimApi(client, clear.reveal())


def test_a_token_never_changes_groups_its_owner_may_not(client, make_user, people):
    """The scim scope asks only to see people and groups; creating, renaming, changing
    the members of or deleting a group needs the owner's group permissions, decided by
    the directory services as for every other door, and each refusal is audited."""
    scim = _scim_for_owner_without_group_rights(client, make_user)
    refused = assert_scim_error(scim.post("Groups", {"displayName": "Admins"}), 403)
    assert "directory.add_group" in refused["detail"]
    assert not Group.objects.exists()

    group = Group.objects.create(name="Staff")
    group.members.add(people[0])
    add = {"op": "add", "path": "members", "value": [{"value": str(people[1].pk)}]}
    assert_scim_error(scim.patch(f"Groups/{group.pk}", add), 403)
    assert_scim_error(scim.put(f"Groups/{group.pk}", {"displayName": "Crew"}), 403)
    assert_scim_error(scim.delete(f"Groups/{group.pk}"), 403)
    group.refresh_from_db()
    assert group.name == "Staff" and list(group.members.all()) == [people[0]]
    refusals = Event.objects.filter(action="scim.refused", outcome=Outcome.DENIED)
    assert sorted((e.detail["method"], e.detail["reason"].split("(needs the ")[1])
                  for e in refusals) == [
        ("DELETE", "directory.delete_group permission)."),
        ("PATCH", "directory.change_group permission)."),
        ("POST", "directory.add_group permission)."),
        ("PUT", "directory.change_group permission).")]
    assert all(e.actor_label.startswith("clerk@example.com (token ") for e in refusals)


def test_the_group_services_refuse_an_actor_without_the_permission(people):
    """The same rule for roles, and for any door that calls the services."""
    viewer = Actor(label="viewer", permissions=frozenset({"directory.view_group",
                                                         "directory.view_role"}))
    with pytest.raises(NotAllowed, match=r"directory\.add_role"):
        services.save_role(None, name="Research", actor=viewer, door="test")
    role = Role.objects.create(name="Research")
    with pytest.raises(NotAllowed, match=r"directory\.change_role"):
        services.save_role(role, user_ids=[people[0].pk], actor=viewer, door="test")
    with pytest.raises(NotAllowed, match=r"directory\.delete_role"):
        services.delete_role(role, actor=viewer, door="test")
    assert not role.users.exists() and Role.objects.filter(pk=role.pk).exists()
    assert sorted(Event.objects.filter(outcome=Outcome.DENIED).values_list(
        "action", flat=True)) == ["role.create", "role.delete", "role.update"]
    allowed = Actor(label="manager", permissions=frozenset({"directory.change_group"}))
    group = Group.objects.create(name="Staff")
    services.change_group_members(group, actor=allowed, add=[people[0].pk], door="test")
    assert list(group.members.all()) == [people[0]]
