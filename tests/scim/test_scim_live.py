"""Over real HTTP: an independent SCIM client (scim2-client) and the RFC 7644 request examples.

The app runs in pytest-django's live server on a free loopback port; nothing
here calls Keystead code except to check the database afterwards.
"""

import httpx
import pytest
from scim2_models import (
    Email,
    Error,
    Group,
    GroupMember,
    ListResponse,
    Name,
    PatchOp,
    PatchOperation,
    SCIMException,
    SearchRequest,
    User,
)

from keystead.directory.models import Group as DirectoryGroup
from keystead.directory.models import User as DirectoryUser

pytestmark = pytest.mark.django_db(transaction=True)

SCIM_JSON = {"Content-Type": "application/scim+json"}


# -- scim2-client ---------------------------------------------------------------------


def test_client_discovers_the_service(scim2):
    config = scim2.provider.config
    assert config.patch.supported and config.etag.supported and not config.bulk.supported
    assert {rt.endpoint for rt in scim2.provider.resource_types} == {"/Users", "/Groups"}


def test_client_user_lifecycle(scim2):
    created = scim2.create(User(
        user_name="bjensen@example.com", external_id="okta-00u1",
        name=Name(given_name="Barbara", family_name="Jensen"),
        emails=[Email(value="bjensen@example.com", type="work", primary=True)],
        active=True, password="Initial-Canary-Pass-1",
    ))
    assert isinstance(created, User)
    assert created.id and created.meta.version and created.meta.resource_type == "User"
    assert created.password is None
    assert DirectoryUser.objects.get(pk=int(created.id)).check_password("Initial-Canary-Pass-1")

    found = scim2.query(User, query_parameters=SearchRequest(
        filter='userName eq "BJENSEN@example.com"'))
    assert isinstance(found, ListResponse)
    assert found.total_results == 1 and found.resources[0].id == created.id

    patched = scim2.modify(User, created.id, PatchOp[User](operations=[
        PatchOperation[User](op="replace", path="name.familyName", value="Jones"),
        PatchOperation[User](op="replace", path="active", value=False),
    ]))
    assert patched.name.family_name == "Jones" and patched.active is False

    fetched = scim2.query(User, created.id)
    fetched.name = Name(given_name="Babs", family_name="Jones")
    fetched.active = True
    replaced = scim2.replace(fetched)
    assert replaced.name.given_name == "Babs" and replaced.active is True
    assert replaced.meta.version != fetched.meta.version

    assert scim2.delete(User, created.id) is None
    assert not DirectoryUser.objects.filter(pk=int(created.id)).exists()
    with pytest.raises(SCIMException):
        scim2.query(User, created.id)


def test_client_group_lifecycle(scim2):
    ada = scim2.create(User(user_name="ada@example.com",
                            emails=[Email(value="ada@example.com")],
                            name=Name(given_name="Ada", family_name="Lovelace")))
    alan = scim2.create(User(user_name="alan@example.com",
                             emails=[Email(value="alan@example.com")],
                             name=Name(given_name="Alan", family_name="Turing")))
    group = scim2.create(Group(display_name="Pioneers", members=[GroupMember(value=ada.id)]))
    assert [m.value for m in group.members] == [ada.id]
    assert group.members[0].display == "Ada Lovelace"

    listed = scim2.query(Group, query_parameters=SearchRequest(
        filter=f'members.value eq "{ada.id}" and displayName sw "pio"'))
    assert [g.id for g in listed.resources] == [group.id]

    patched = scim2.modify(Group, group.id, PatchOp[Group](operations=[
        PatchOperation[Group](op="add", path="members", value=[GroupMember(value=alan.id)]),
        PatchOperation[Group](op="remove", path=f'members[value eq "{ada.id}"]'),
    ]))
    assert [m.value for m in patched.members] == [alan.id]
    assert scim2.query(User, alan.id).groups[0].value == group.id

    group = scim2.query(Group, group.id)
    group.display_name = "Early Pioneers"
    assert scim2.replace(group).display_name == "Early Pioneers"
    scim2.delete(Group, group.id)
    assert not DirectoryGroup.objects.exists()


def test_client_sees_scim_errors(scim2):
    scim2.create(User(user_name="ada@example.com", emails=[Email(value="ada@example.com")],
                      name=Name(given_name="Ada", family_name="Lovelace")))
    duplicate = scim2.create(
        User(user_name="Ada@example.com", emails=[Email(value="Ada@example.com")],
             name=Name(given_name="A", family_name="L")),
        raise_scim_errors=False)
    assert isinstance(duplicate, Error)
    assert (duplicate.status, duplicate.scim_type) == (409, "uniqueness")
    nameless = scim2.create(User(user_name="x@example.com", emails=[Email(value="x@example.com")],
                                 name=Name(given_name="X")),
                            raise_scim_errors=False)
    assert (nameless.status, nameless.scim_type) == (400, "invalidValue")
    assert "name.familyName" in nameless.detail
    bad_filter = scim2.query(User, query_parameters=SearchRequest(filter="active gt true"),
                             raise_scim_errors=False)
    assert (bad_filter.status, bad_filter.scim_type) == (400, "invalidFilter")


def test_client_pages_through_users(scim2):
    for i in range(5):
        scim2.create(User(user_name=f"u{i}@example.com",
                          emails=[Email(value=f"u{i}@example.com")],
                          name=Name(given_name="U", family_name=str(i))))
    seen = []
    start = 1
    while True:
        page = scim2.query(User, query_parameters=SearchRequest(
            filter='userName sw "u"', start_index=start, count=2))
        seen += [u.user_name for u in page.resources or []]
        start += page.items_per_page
        if start > page.total_results:
            break
    assert sorted(seen) == [f"u{i}@example.com" for i in range(5)]


# -- raw HTTP, following the RFC 7644 examples -----------------------------------------


def test_rfc_3_3_create(live_scim, live_base):
    response = live_scim.post("/Users", headers=SCIM_JSON, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen@example.com", "emails": [{"value": "bjensen@example.com"}],
        "externalId": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
                 "givenName": "Barbara"},
    })
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    assert response.headers["location"] == body["meta"]["location"] == \
        f"{live_base}/Users/{body['id']}"
    assert response.headers["etag"] == body["meta"]["version"]
    # meta.location is where the resource really is.
    assert live_scim.get(body["meta"]["location"]).json()["id"] == body["id"]


def test_rfc_3_4_2_filter_and_3_4_1_attributes(live_scim):
    live_scim.post("/Users", json={"userName": "bjensen@example.com",
                                   "emails": [{"value": "bjensen@example.com"}],
                                   "name": {"givenName": "Barbara", "familyName": "Jensen"}})
    response = live_scim.get("/Users", params={"filter": 'userName eq "bjensen@example.com"',
                                               "attributes": "userName,name.familyName"})
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert body["totalResults"] == 1
    assert body["Resources"][0]["name"] == {"familyName": "Jensen"}


def test_rfc_3_5_2_patch_examples(live_scim):
    user = live_scim.post("/Users", json={
        "userName": "bjensen@example.com", "emails": [{"value": "bjensen@example.com"}],
        "name": {"givenName": "Barbara", "familyName": "Jensen"}}).json()
    group = live_scim.post("/Groups", json={"displayName": "Tour Guides"}).json()
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    # §3.5.2.1 add members
    response = live_scim.patch(f"/Groups/{group['id']}", headers=SCIM_JSON, json={**patch,
        "Operations": [{"op": "add", "path": "members", "value": [{
            "display": "Babs Jensen", "$ref": f"https://example.com/v2/Users/{user['id']}",
            "value": user["id"]}]}]})
    assert response.status_code == 200, response.text
    assert response.json()["members"][0]["value"] == user["id"]
    # §3.5.2.2 remove a member
    response = live_scim.patch(f"/Groups/{group['id']}", json={**patch, "Operations": [
        {"op": "remove", "path": f'members[value eq "{user["id"]}"]'}]})
    assert "members" not in response.json()
    # §3.5.2.3 replace with a value path
    response = live_scim.patch(f"/Users/{user['id']}", json={**patch, "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "babs@example.com"},
        {"op": "replace", "value": {"active": False}}]})
    assert response.json()["emails"][0]["value"] == "babs@example.com"
    assert response.json()["active"] is False


def test_rfc_3_6_delete_and_3_12_errors(live_scim):
    user = live_scim.post("/Users", json={
        "userName": "bjensen@example.com", "emails": [{"value": "bjensen@example.com"}],
        "name": {"givenName": "Barbara", "familyName": "Jensen"}}).json()
    response = live_scim.delete(f"/Users/{user['id']}")
    assert response.status_code == 204 and response.content == b""
    response = live_scim.get(f"/Users/{user['id']}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/scim+json"
    assert response.json() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                               "status": "404", "detail": f"No user with id '{user['id']}'."}


def test_raw_auth_errors(live_base, token_for):
    assert httpx.get(f"{live_base}/Users").status_code == 401
    assert httpx.get(f"{live_base}/Users",
                     headers={"Authorization": "Bearer kst_x_y"}).status_code == 401
    other = token_for("users:read")
    response = httpx.get(f"{live_base}/Users", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 403
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_concurrent_patches_do_not_lose_changes(live_scim, live_base, token_for):
    """Each PATCH reads, changes and writes the whole user; the row lock serialises them."""
    import threading

    user = live_scim.post("/Users", json={
        "userName": "ada@example.com", "emails": [{"value": "ada@example.com"}],
        "name": {"givenName": "Ada", "familyName": "Lovelace"}
    }).json()
    headers = {"Authorization": f"Bearer {token_for('scim')}"}
    for round_ in range(3):
        changes = [("name.givenName", f"Given{round_}"), ("name.familyName", f"Family{round_}"),
                   ("externalId", f"ext-{round_}"), ("active", round_ % 2 == 0)]
        barrier = threading.Barrier(len(changes))
        statuses = []

        def patch(path, value, barrier, statuses):
            with httpx.Client(base_url=live_base, headers=headers, timeout=30) as client:
                barrier.wait()
                statuses.append(client.patch(f"/Users/{user['id']}", json={"Operations": [
                    {"op": "replace", "path": path, "value": value}]}).status_code)

        threads = [threading.Thread(target=patch, args=(*change, barrier, statuses))
                   for change in changes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * len(changes)
        stored = DirectoryUser.objects.get(pk=int(user["id"]))
        assert (stored.given_name, stored.family_name, stored.external_id, stored.is_active) == \
            (f"Given{round_}", f"Family{round_}", f"ext-{round_}", round_ % 2 == 0)
