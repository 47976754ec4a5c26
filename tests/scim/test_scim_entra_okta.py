"""The requests Microsoft Entra ID and Okta send, as their SCIM documentation shows them.

Bodies follow Microsoft's "Tutorial: Develop and plan provisioning for a SCIM
endpoint" and "Known issues and resolutions with SCIM 2.0 protocol compliance"
(Entra ID, with and without the aadOptscim062020 flag), and Okta's "SCIM 2.0
Protocol Reference", with their example values. Each request goes over real
HTTP to the live server; each result is checked in the database.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keystead.directory.models import Group, User

pytestmark = pytest.mark.django_db(transaction=True)

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# Entra ID sends plain JSON; Okta sends SCIM JSON with a charset.
ENTRA = {"Content-Type": "application/json"}
OKTA = {"Content-Type": "application/scim+json; charset=utf-8",
        "User-Agent": "Okta SCIM Client 1.0.0"}


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/scim+json"
    return response.json()


# -- Microsoft Entra ID -----------------------------------------------------------------

ENTRA_USER = {
    "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [{"primary": True, "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
    "meta": {"resourceType": "User"},
    "name": {"formatted": "givenName familyName", "familyName": "familyName",
             "givenName": "givenName"},
    "roles": [],
}


@pytest.fixture
def entra(live_scim) -> httpx.Client:
    live_scim.headers.update(ENTRA)
    return live_scim


def _entra_user(entra: httpx.Client) -> User:
    return User.objects.get(pk=int(_ok(entra.post("/Users", json=ENTRA_USER), 201)["id"]))


def test_entra_test_connection_and_exists_probe(entra):
    """Entra asks for a random user name to check the connection; none is a list of 0."""
    body = _ok(entra.get("/Users", params={
        "filter": 'userName eq "e7a7b1c0-5d1f-4c7a-9a0e-1b2c3d4e5f60"'}))
    assert (body["totalResults"], body["Resources"]) == (0, [])
    body = _ok(entra.get("/Groups", params={"excludedAttributes": "members",
                                            "filter": 'displayName eq "displayName"'}))
    assert body["totalResults"] == 0


def test_entra_create_user_and_find_it(entra):
    created = _ok(entra.post("/Users", json=ENTRA_USER), 201)
    user = User.objects.get(pk=int(created["id"]))
    assert (user.username, user.email, user.external_id, user.given_name, user.family_name,
            user.is_active) == (
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "test_user_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "givenName", "familyName", True)
    assert created["userName"] == ENTRA_USER["userName"]
    for probe in ('userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"',
                  'userName eq "test_user_00AA00AA-bb11-cc22-dd33-44ee44ee44ee"',
                  'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"',
                  'emails[type eq "work"].value eq '
                  '"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"'):
        found = _ok(entra.get("/Users", params={"filter": probe}))
        assert [r["id"] for r in found["Resources"]] == [created["id"]], probe
    # Entra re-sending the same person is told it exists.
    assert entra.post("/Users", json=ENTRA_USER).status_code == 409


def test_entra_create_without_an_email_is_refused(entra):
    body = {k: v for k, v in ENTRA_USER.items() if k != "emails"}
    response = entra.post("/Users", json=body)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert response.json()["detail"].startswith("emails is required")
    assert not User.objects.filter(username=ENTRA_USER["userName"]).exists()


def test_entra_update_multi_and_single_valued(entra):
    user = _entra_user(entra)
    _ok(entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": 'emails[type eq "work"].value',
         "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"})))
    user.refresh_from_db()
    assert (user.email, user.family_name, user.username) == (
        "updatedemail@microsoft.com", "updatedFamilyName", ENTRA_USER["userName"])

    _ok(entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": "userName",
         "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"})))
    user.refresh_from_db()
    assert (user.username, user.email) == ("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
                                           "updatedemail@microsoft.com")


@pytest.mark.parametrize("value", ["False", False])
def test_entra_disable_user(entra, value):
    """Without the compliance flag Entra sends the string "False"; with it, a boolean."""
    user = _entra_user(entra)
    body = _ok(entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": "active", "value": value})))
    assert body["active"] is False
    user.refresh_from_db()
    assert user.is_active is False
    _ok(entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": "active", "value": "True"})))
    user.refresh_from_db()
    assert user.is_active is True


def test_entra_replace_several_attributes_without_a_path(entra):
    """The compliant form: one op without a path, dotted names, an extension attribute
    Keystead does not keep (ignored, as in a POST)."""
    user = _entra_user(entra)
    body = _ok(entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "replace", "path": 'emails[type eq "work"].value',
         "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":
                "Aklq"}})))
    user.refresh_from_db()
    assert (user.email, user.given_name, user.family_name) == (
        "testmhvaes@test.microsoft.com", "Kkom", "Unua")
    assert body["displayName"] == "Kkom Unua"  # derived from the names


def test_entra_replace_several_attributes_with_paths(entra):
    """The older form: one op per attribute, with the default mappings' attributes that
    Keystead does not keep among them; those are skipped, the rest applied."""
    user = _entra_user(entra)
    operations = [
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": 'emails[type eq "work"].value',
         "value": "TestBcwqnm@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": "title", "value": "Engineer"},
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 555 0100"},
        {"op": "Replace", "value": "Eqpj", "path":
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
        {"op": "Replace", "value": "Research", "path":
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
    ]
    _ok(entra.patch(f"/Users/{user.pk}", json=_patch(*operations)))
    user.refresh_from_db()
    assert (user.email, user.given_name, user.family_name, user.external_id) == (
        "testbcwqnm@test.microsoft.com", "Gtfd", "Pkqf", "Eqpj")


def test_entra_group_lifecycle(entra):
    user = _entra_user(entra)
    other = User.objects.create_user("other@example.com", "Other", "Person")
    created = _ok(entra.post("/Groups", json={
        "schemas": [GROUP_SCHEMA,
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName", "meta": {"resourceType": "Group"}}), 201)
    group = Group.objects.get(pk=int(created["id"]))
    assert (group.name, group.external_id) == ("displayName",
                                               "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159")

    one = _ok(entra.get(f"/Groups/{group.pk}", params={"excludedAttributes": "members"}))
    assert "members" not in one and one["displayName"] == "displayName"
    found = _ok(entra.get("/Groups", params={"excludedAttributes": "members",
                                             "filter": 'displayName eq "displayName"'}))
    assert [g["id"] for g in found["Resources"]] == [str(group.pk)]

    _ok(entra.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "Replace", "path": "displayName",
         "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"})))
    group.refresh_from_db()
    assert group.name == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"

    _ok(entra.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "Add", "path": "members",
         "value": [{"$ref": None, "value": str(user.pk)},
                   {"$ref": None, "value": str(other.pk)}]})))
    assert set(group.members.values_list("pk", flat=True)) == {user.pk, other.pk}
    # Without the compliance flag: Remove with the members listed as the value.
    _ok(entra.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": str(user.pk)}]})))
    assert list(group.members.values_list("pk", flat=True)) == [other.pk]
    # With the flag: a value filter in the path.
    _ok(entra.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "remove", "path": f'members[value eq "{other.pk}"]'})))
    assert not group.members.exists()

    assert entra.delete(f"/Groups/{group.pk}").status_code == 204
    assert not Group.objects.filter(pk=group.pk).exists()
    assert entra.delete(f"/Users/{user.pk}").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_path_no_standard_defines_is_refused_by_name(entra):
    """Only attributes RFC 7643 defines are skipped; a misspelt one is an error, and
    nothing of the request is applied."""
    user = _entra_user(entra)
    response = entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": "name.givenName", "value": "Changed"},
        {"op": "Add", "path": "nickNme", "value": "Babs"}))
    assert response.status_code == 400 and response.json()["scimType"] == "invalidPath"
    assert "nickNme" in response.json()["detail"]
    user.refresh_from_db()
    assert user.given_name != "Changed"
    other = entra.patch(f"/Users/{user.pk}", json=_patch(
        {"op": "Replace", "path": "urn:example:params:scim:schemas:custom:User:level",
         "value": "3"}))
    assert other.status_code == 400 and other.json()["scimType"] == "invalidPath"


# -- Okta -------------------------------------------------------------------------------

OKTA_USER = {
    "schemas": [USER_SCHEMA],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "a long Okta-synced passphrase 1",
    "active": True,
}


@pytest.fixture
def okta(live_scim) -> httpx.Client:
    live_scim.headers.update(OKTA)
    return live_scim


def test_okta_connection_probe_and_create(okta):
    assert _ok(okta.get("/Users", params={"count": 2, "startIndex": 1}))["startIndex"] == 1
    assert _ok(okta.get("/Groups", params={"count": 100, "startIndex": 1}))["totalResults"] == 0
    probe = {"filter": 'userName eq "test.user@okta.local"', "startIndex": 1, "count": 100}
    assert _ok(okta.get("/Users", params=probe))["totalResults"] == 0

    created = _ok(okta.post("/Users", json=OKTA_USER), 201)
    assert "password" not in created
    user = User.objects.get(pk=int(created["id"]))
    assert (user.username, user.email, user.external_id, user.given_name, user.family_name,
            user.is_active) == ("test.user@okta.local", "test.user@okta.local",
                                "00ujl29u0le5T6Aj10h7", "Test", "User", True)
    assert user.check_password(OKTA_USER["password"])
    found = _ok(okta.get("/Users", params=probe))
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
    assert _ok(okta.get(f"/Users/{user.pk}"))["userName"] == "test.user@okta.local"


def test_okta_password_too_weak_for_the_policy_is_refused(okta):
    """Okta's documentation example password (8 characters) fails Keystead's policy."""
    response = okta.post("/Users", json={**OKTA_USER, "password": "1mz050nq"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("password:")
    assert "1mz050nq" not in response.text
    assert not User.objects.filter(username="test.user@okta.local").exists()


def test_okta_put_update_and_patch_deactivation(okta):
    user_id = _ok(okta.post("/Users", json=OKTA_USER), 201)["id"]
    current = _ok(okta.get(f"/Users/{user_id}"))
    replaced = _ok(okta.put(f"/Users/{user_id}", json={
        "schemas": [USER_SCHEMA], "id": user_id, "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work",
                    "display": "test.user@okta.local"}],
        "active": True, "groups": [], "meta": {"resourceType": "User"}}))
    assert replaced["meta"]["version"] != current["meta"]["version"]
    user = User.objects.get(pk=int(user_id))
    assert (user.given_name, user.family_name, user.is_active) == ("Another", "User", True)

    _ok(okta.patch(f"/Users/{user_id}", json=_patch(
        {"op": "replace", "value": {"active": False}})))
    user.refresh_from_db()
    assert user.is_active is False
    _ok(okta.patch(f"/Users/{user_id}", json=_patch(
        {"op": "replace", "value": {"active": True}})))
    _ok(okta.patch(f"/Users/{user_id}", json=_patch(
        {"op": "replace", "value": {"password": "a fresh long passphrase 2"}})))
    user.refresh_from_db()
    assert user.is_active is True and user.check_password("a fresh long passphrase 2")


def test_okta_group_push(okta):
    test_user = User.objects.create_user("test.user@okta.local", "Test", "User")
    leaver = User.objects.create_user("leaver@okta.local", "Leaving", "User")
    extra = User.objects.create_user("extra@okta.local", "Extra", "User")
    created = _ok(okta.post("/Groups", json={"schemas": [GROUP_SCHEMA],
                                             "displayName": "Test SCIMv2", "members": []}), 201)
    group = Group.objects.get(pk=int(created["id"]))
    group.members.add(leaver)

    _ok(okta.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "replace", "value": {"id": str(group.pk), "displayName": "Test SCIMv20"}})))
    group.refresh_from_db()
    assert group.name == "Test SCIMv20"

    _ok(okta.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "remove", "path": f'members[value eq "{leaver.pk}"]'},
        {"op": "add", "path": "members",
         "value": [{"value": str(test_user.pk), "display": "test.user@okta.local"}]})))
    assert list(group.members.values_list("pk", flat=True)) == [test_user.pk]

    _ok(okta.patch(f"/Groups/{group.pk}", json=_patch(
        {"op": "replace", "path": "members",
         "value": [{"value": str(extra.pk), "display": "extra@okta.local"},
                   {"value": str(leaver.pk), "display": "leaver@okta.local"}]})))
    assert set(group.members.values_list("pk", flat=True)) == {extra.pk, leaver.pk}

    listed = _ok(okta.get("/Groups", params={"startIndex": 1, "count": 100}))
    assert [g["displayName"] for g in listed["Resources"]] == ["Test SCIMv20"]
    assert okta.delete(f"/Groups/{group.pk}").status_code == 204
    assert not Group.objects.filter(pk=group.pk).exists()
