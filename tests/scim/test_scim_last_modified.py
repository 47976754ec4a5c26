"""meta.created, meta.lastModified and meta.version of Users and Groups (RFC 7643 §3.1).

A resource never changed was last modified when it was created. A person's ``groups``
is part of the person, so a change of group membership moves the person's
``lastModified`` and ``version`` as it moves the group's: a client that syncs with
``meta.lastModified gt "<its last run>"`` sees them, and the version a list shows
stays the one GET and If-Match use.
"""

from __future__ import annotations

import pytest
from scim2_models import Group, GroupMember, PatchOp, PatchOperation, SearchRequest, User
from scim_helpers import user_body

from keystead.directory.models import Group as DirectoryGroup
from keystead.directory.models import User as DirectoryUser

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _group_body(name: str, *members: DirectoryUser) -> dict:
    return {"schemas": [GROUP_SCHEMA], "displayName": name,
            "members": [{"value": str(m.pk)} for m in members]}


def _meta(scim, path: str) -> dict:
    response = scim.get(path)
    assert response.status_code == 200, response.content
    return {**response.json()["meta"], "etag": response["ETag"]}


def _listed_since(scim, moment: str) -> set[str]:
    """The user names a client syncing changes since ``moment`` is given."""
    body = scim.get("Users", filter=f'meta.lastModified gt "{moment}"').json()
    return {r["userName"] for r in body["Resources"]}


@pytest.mark.django_db(transaction=True)
def test_an_independent_client_sees_membership_move_the_members_last_modified(scim2):
    """Through scim2-client over HTTP: created equals lastModified on a new user and
    group; adding the user to the group moves the user's lastModified and version."""
    user = scim2.create(User(user_name="ada@example.com", name={"given_name": "Ada",
                                                                "family_name": "Lovelace"},
                             emails=[{"value": "ada@example.com", "primary": True}]))
    group = scim2.create(Group(display_name="Analysts"))
    assert user.meta.created == user.meta.last_modified
    assert group.meta.created == group.meta.last_modified

    scim2.modify(Group, group.id, PatchOp[Group](operations=[PatchOperation[Group](
        op="add", path="members", value=[GroupMember(value=user.id)])]))

    after = scim2.query(User, user.id)
    group_after = scim2.query(Group, group.id)
    assert [g.value for g in after.groups] == [group.id]
    assert after.meta.last_modified > user.meta.last_modified
    assert after.meta.last_modified == group_after.meta.last_modified
    assert after.meta.version != user.meta.version
    assert after.meta.created == user.meta.created
    listed = scim2.query(User, query_parameters=SearchRequest(
        filter=f'meta.lastModified gt "{user.meta.last_modified.isoformat()}"'))
    assert [u.id for u in listed.resources] == [user.id]


@pytest.mark.django_db
def test_a_new_user_and_group_were_last_modified_when_created(scim):
    user = scim.post("Users", user_body(password="Long-enough-passphrase-1")).json()
    group = scim.post("Groups", _group_body("Staff")).json()
    for kind, created in (("Users", user), ("Groups", group)):
        assert created["meta"]["created"] == created["meta"]["lastModified"], created
        again = _meta(scim, f"{kind}/{created['id']}")
        assert again["created"] == again["lastModified"]


@pytest.mark.django_db
def test_group_patch_moves_the_lastModified_of_who_joined_or_left(scim, make_user):
    ada, bob, eve = (make_user(f"{n}@example.com") for n in ("ada", "bob", "eve"))
    group = DirectoryGroup.objects.create(name="Staff")
    group.members.add(ada, bob)
    before = {u.email: _meta(scim, f"Users/{u.pk}") for u in (ada, bob, eve)}
    moment = max(m["lastModified"] for m in before.values())

    answer = scim.patch(f"Groups/{group.pk}",
                        {"op": "add", "path": "members", "value": [{"value": str(eve.pk)}]},
                        {"op": "remove", "path": f'members[value eq "{ada.pk}"]'})
    assert answer.status_code == 200, answer.content

    after = {u.email: _meta(scim, f"Users/{u.pk}") for u in (ada, bob, eve)}
    for email in ("ada@example.com", "eve@example.com"):
        assert after[email]["lastModified"] > before[email]["lastModified"], email
        assert after[email]["lastModified"] == answer.json()["meta"]["lastModified"]
        assert after[email]["version"] != before[email]["version"]
        assert after[email]["created"] == before[email]["created"]
    assert after["bob@example.com"] == before["bob@example.com"]
    assert _listed_since(scim, moment) == {"ada@example.com", "eve@example.com"}


@pytest.mark.django_db
def test_group_put_moves_the_lastModified_of_who_joined_or_left(scim, make_user):
    ada, bob, eve = (make_user(f"{n}@example.com") for n in ("ada", "bob", "eve"))
    group = DirectoryGroup.objects.create(name="Staff")
    group.members.add(ada, bob)
    moment = max(_meta(scim, f"Users/{u.pk}")["lastModified"] for u in (ada, bob, eve))
    answer = scim.put(f"Groups/{group.pk}", _group_body("Staff", bob, eve))
    assert answer.status_code == 200, answer.content
    assert _listed_since(scim, moment) == {"ada@example.com", "eve@example.com"}


@pytest.mark.django_db
def test_membership_by_the_rest_api_moves_the_scim_lastModified(scim, api, make_user):
    ada = make_user("ada@example.com")
    group = DirectoryGroup.objects.create(name="Staff")
    before = _meta(scim, f"Users/{ada.pk}")
    answer = api.post(f"/api/v1/groups/{group.pk}/members", {"add": [ada.pk]})
    assert answer.status_code == 200, answer.content
    after = _meta(scim, f"Users/{ada.pk}")
    assert after["lastModified"] > before["lastModified"]
    assert after["version"] != before["version"]
    # The list shows the version GET shows, and If-Match takes it.
    listed = scim.get("Users", filter='userName eq "ada@example.com"').json()["Resources"]
    assert listed[0]["meta"] == {k: v for k, v in after.items() if k != "etag"}
    changed = scim.patch(f"Users/{ada.pk}", {"op": "replace", "path": "active", "value": False},
                         headers={"If-Match": after["etag"]})
    assert changed.status_code == 200, changed.content


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_put_ignores_an_id_in_the_body(scim, make_user, kind):
    """``id`` is readOnly (RFC 7643 §3.1); readOnly values a PUT carries "SHALL be
    ignored" (RFC 7644 §3.5.1): the URL names the resource, and the other one is
    left as it was."""
    if kind == "Users":
        target, other = make_user("ada@example.com"), make_user("bob@example.com")
        body = user_body("ada@example.com", given="Ada", family="King", id=str(other.pk))
    else:
        target = DirectoryGroup.objects.create(name="Staff")
        other = DirectoryGroup.objects.create(name="Other")
        body = {**_group_body("Crew"), "id": str(other.pk)}
    answer = scim.put(f"{kind}/{target.pk}", body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["id"] == str(target.pk)
    target.refresh_from_db()
    other.refresh_from_db()
    if kind == "Users":
        assert (target.family_name, other.family_name) == ("King", "Person")
    else:
        assert (target.name, other.name) == ("Crew", "Other")
