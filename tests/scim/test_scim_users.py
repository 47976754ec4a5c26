"""/Users through the whole Django stack: create, read, replace, patch, delete, validation."""

import pytest
from scim_helpers import assert_scim_error, user_body

from keystead.directory.models import Event, User

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]




def test_create_user_maps_every_attribute(scim, settings):
    settings.BASE_URL = "https://id.example.com"
    response = scim.post("Users", user_body(externalId="ext-42", active=True))
    assert response.status_code == 201
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    user = User.objects.get(pk=int(body["id"]))
    assert (user.email, user.given_name, user.family_name, user.external_id) == (
        "bjensen@example.com", "Barbara", "Jensen", "ext-42")
    assert not user.has_usable_password()
    assert body["userName"] == "bjensen@example.com"
    assert body["name"] == {"formatted": "Barbara Jensen", "familyName": "Jensen",
                            "givenName": "Barbara"}
    assert body["displayName"] == "Barbara Jensen"
    assert body["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]
    assert body["active"] is True
    assert body["externalId"] == "ext-42"
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"https://id.example.com/scim/v2/Users/{user.pk}"
    assert response["Location"] == meta["location"]
    assert response["ETag"] == meta["version"]
    assert meta["version"].startswith('W/"')
    assert meta["created"].endswith("Z") and meta["lastModified"].endswith("Z")
    assert "password" not in body


def test_create_is_audited_as_the_scim_door(scim):
    scim.post("Users", user_body())
    event = Event.objects.get(action="user.create")
    assert event.detail["door"] == "scim"
    assert event.actor_label.startswith("root@example.com (token ")


def test_user_name_keeps_its_case_and_is_unique_regardless_of_case(scim):
    body = scim.post("Users", user_body(email="BJensen@Example.com")).json()
    assert (body["userName"], body["emails"][0]["value"]) == \
        ("BJensen@Example.com", "bjensen@example.com")
    user = User.objects.get(pk=int(body["id"]))
    assert (user.username, user.email) == ("BJensen@Example.com", "bjensen@example.com")
    response = scim.post("Users", user_body(email="other@example.com",
                                            userName="BJENSEN@example.com"))
    assert assert_scim_error(response, 409, "uniqueness")["detail"].startswith("userName")
    response = scim.post("Users", user_body(email="bjensen@EXAMPLE.com", userName="Other"))
    assert assert_scim_error(response, 409, "uniqueness")["detail"].startswith("emails")


def test_user_name_and_email_are_separate(scim):
    response = scim.post("Users", user_body(email="ada@example.com", userName="E12345"))
    assert response.status_code == 201, response.content
    assert response.json()["userName"] == "E12345"
    assert response.json()["emails"] == [
        {"value": "ada@example.com", "type": "work", "primary": True}]
    user = User.objects.get(pk=int(response.json()["id"]))
    assert (user.username, user.email) == ("E12345", "ada@example.com")
    found = scim.get("Users", filter='userName eq "e12345"').json()
    assert [u["id"] for u in found["Resources"]] == [str(user.pk)]


def test_user_name_defaults_to_the_email(scim):
    body = user_body(email="ada@example.com")
    del body["userName"]
    response = scim.post("Users", body)
    assert response.status_code == 201, response.content
    assert response.json()["userName"] == "ada@example.com"


def test_a_user_name_may_not_be_someone_elses_email(scim, make_user):
    make_user("taken@example.com")
    body = assert_scim_error(scim.post("Users", user_body(email="ada@example.com",
                                                          userName="TAKEN@example.com")),
                             409, "uniqueness")
    assert body["detail"].startswith("userName")


@pytest.mark.parametrize("emails", [None, [], [{"type": "work"}], [{"value": ""}]])
def test_a_person_without_an_email_is_refused_naming_emails(scim, emails):
    body = user_body(email="ada@example.com", userName="E12345")
    if emails is None:
        del body["emails"]
    else:
        body["emails"] = emails
    detail = assert_scim_error(scim.post("Users", body), 400, "invalidValue")["detail"]
    assert detail.startswith("emails is required")
    assert User.objects.count() == 1  # only the token's owner


@pytest.mark.parametrize("family", [None, "", "   "])
def test_missing_or_blank_family_name_is_refused_naming_the_field(scim, family):
    response = scim.post("Users", user_body(family=family))
    body = assert_scim_error(response, 400, "invalidValue")
    assert "name.familyName is required" in body["detail"]
    assert not User.objects.filter(email="bjensen@example.com").exists()


def test_missing_name_names_both_fields(scim):
    body = assert_scim_error(scim.post("Users", {"userName": "ada@example.com",
                                                 "emails": [{"value": "ada@example.com"}]}),
                             400, "invalidValue")
    assert "name.givenName" in body["detail"] and "name.familyName" in body["detail"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": {"givenName": "A", "familyName": "B"}}, "emails"),
    (user_body(email="not-an-email"), "emails"),
    (user_body(email=42), "userName"),
    (user_body(userName=" E12345 "), "userName"),
    (user_body(userName="E12345\n"), "userName"),
    (user_body(userName="x" * 255), "userName"),
    (user_body(active="maybe"), "active"),
    (user_body(externalId=7), "externalId"),
    ({**user_body(), "name": "Barbara Jensen"}, "name"),
    (user_body(emails="bjensen@example.com"), "emails"),
    (user_body(given=5), "name.givenName"),
    (user_body(password=""), "password"),
    (user_body(password=["x"]), "password"),
])
def test_invalid_payloads_get_400_invalid_value_naming_the_attribute(scim, payload, field):
    body = assert_scim_error(scim.post("Users", payload), 400, "invalidValue")
    assert field in body["detail"]
    assert User.objects.count() == 1  # only the token's owner


def test_wrong_schema_is_invalid_syntax(scim):
    response = scim.post("Users", {**user_body(),
                                   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]})
    assert_scim_error(response, 400, "invalidSyntax")


def test_schemas_may_be_left_out_and_names_are_case_insensitive(scim):
    response = scim.post("Users", {"USERNAME": "ada@example.com",
                                   "Name": {"GivenName": "Ada", "FAMILYNAME": "Lovelace"},
                                   "EMAILS": [{"VALUE": "ada@example.com", "Primary": True}]})
    assert response.status_code == 201, response.content
    assert response.json()["name"]["familyName"] == "Lovelace"
    assert response.json()["emails"][0]["value"] == "ada@example.com"


def test_active_accepts_string_booleans(scim):
    assert scim.post("Users", user_body(active="False")).json()["active"] is False


def test_read_only_and_unknown_attributes_are_ignored_on_create(scim):
    response = scim.post("Users", user_body(
        id="999", displayName="Someone Else", groups=[{"value": "1"}], nickName="Babs",
        meta={"created": "2000-01-01T00:00:00Z"},
        **{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"}}))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "999"
    assert body["displayName"] == "Barbara Jensen"
    assert "groups" not in body and "nickName" not in body


def test_get_one_and_404(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.get(f"Users/{user.pk}")
    assert response.status_code == 200
    assert response.json()["userName"] == "ada@example.com"
    assert response["ETag"] == response.json()["meta"]["version"]
    for missing in ("999999", "abc", "99999999999999999999999", "-1"):
        assert_scim_error(scim.get(f"Users/{missing}"), 404)


def test_conditional_get_and_if_match(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    etag = scim.get(f"Users/{user.pk}")["ETag"]
    assert scim.call("GET", f"Users/{user.pk}", headers={"If-None-Match": etag}).status_code == 304
    stale = scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "active", "value": False},
                       headers={"If-Match": 'W/"stale"'})
    assert_scim_error(stale, 412)
    fresh = scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "active", "value": False},
                       headers={"If-Match": etag})
    assert fresh.status_code == 200
    assert fresh["ETag"] != etag


def test_if_none_match_on_a_write_and_if_match_on_a_read(scim, make_user):
    """RFC 7232 §3.1/§3.2 (RFC 7644 §3.14): a failed precondition is 412 on any method."""
    user = make_user("ada@example.com", "Ada", "Lovelace")
    etag = scim.get(f"Users/{user.pk}")["ETag"]
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com", "name": {"givenName": "Augusta",
                                                    "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com"}]}
    assert_scim_error(scim.put(f"Users/{user.pk}", body, headers={"If-None-Match": etag}), 412)
    assert_scim_error(scim.delete(f"Users/{user.pk}", headers={"If-None-Match": "*"}), 412)
    user.refresh_from_db()
    assert user.given_name == "Ada"
    changed = scim.put(f"Users/{user.pk}", body, headers={"If-None-Match": 'W/"older"'})
    assert changed.status_code == 200, changed.content
    assert_scim_error(scim.get(f"Users/{user.pk}", headers={"If-Match": etag}), 412)
    assert scim.get(f"Users/{user.pk}", headers={"If-Match": changed["ETag"]}).status_code == 200


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_a_blank_user_name_is_refused_not_silently_kept(scim, make_user, blank):
    user = make_user("ada@example.com", "Ada", "Lovelace", username="E12345")
    response = scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "userName",
                                               "value": blank})
    assert assert_scim_error(response, 400, "invalidValue")["detail"].startswith("userName")
    body = {"userName": blank, "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com"}]}
    response = scim.put(f"Users/{user.pk}", body)
    assert assert_scim_error(response, 400, "invalidValue")["detail"].startswith("userName")
    user.refresh_from_db()
    assert user.username == "E12345"
    del body["userName"]  # left out of a PUT, the user name is kept
    assert scim.put(f"Users/{user.pk}", body).json()["userName"] == "E12345"


def test_put_replaces_the_user(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace", external_id="old")
    response = scim.put(f"Users/{user.pk}", user_body(email="ada.king@example.com", given="Ada",
                                                      family="King", active=False))
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.email, user.family_name, user.is_active, user.external_id) == (
        "ada.king@example.com", "King", False, "")


def test_put_keeps_active_when_left_out(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace", is_active=False)
    scim.put(f"Users/{user.pk}", user_body(email="ada@example.com"))
    user.refresh_from_db()
    assert user.is_active is False


def test_put_without_family_name_is_refused(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    body = assert_scim_error(scim.put(f"Users/{user.pk}", user_body(family=None)), 400,
                             "invalidValue")
    assert "name.familyName" in body["detail"]
    user.refresh_from_db()
    assert user.family_name == "Lovelace"


def test_put_conflict_is_409(scim, make_user):
    make_user("taken@example.com")
    user = make_user("ada@example.com", "Ada", "Lovelace")
    assert_scim_error(scim.put(f"Users/{user.pk}", user_body(email="Taken@example.com")), 409,
                      "uniqueness")


# -- PATCH, following RFC 7644 §3.5.2 -----------------------------------------------


def test_patch_family_name_and_active(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.patch(f"Users/{user.pk}",
                          {"op": "replace", "path": "name.familyName", "value": "King"},
                          {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 200
    assert response.json()["name"]["familyName"] == "King"
    user.refresh_from_db()
    assert (user.family_name, user.is_active) == ("King", False)
    event = Event.objects.filter(action="user.update").latest("id")
    assert event.detail["changed"] == ["family_name", "is_active"]


def test_patch_work_email_changes_only_the_email(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.patch(f"Users/{user.pk}", {
        "op": "replace", "path": 'emails[type eq "work"].value', "value": "Ada@King.example"})
    assert response.json()["userName"] == "ada@example.com"
    assert response.json()["emails"][0]["value"] == "ada@king.example"
    user.refresh_from_db()
    assert (user.username, user.email) == ("ada@example.com", "ada@king.example")


def test_patch_user_name_changes_only_the_user_name(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    body = scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "userName",
                                           "value": "Countess"}).json()
    assert (body["userName"], body["emails"][0]["value"]) == ("Countess", "ada@example.com")
    user.refresh_from_db()
    assert (user.username, user.email) == ("Countess", "ada@example.com")


def test_put_without_emails_keeps_the_email(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    body = user_body(email="ada@example.com", userName="E12345")
    del body["emails"]
    response = scim.put(f"Users/{user.pk}", body)
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.username, user.email) == ("E12345", "ada@example.com")


def test_put_with_empty_emails_is_refused(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.put(f"Users/{user.pk}", user_body(email="ada@example.com", emails=[]))
    assert assert_scim_error(response, 400, "invalidValue")["detail"].startswith("emails")
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_patch_without_path_like_azure_and_okta(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.patch(f"Users/{user.pk}", {"op": "Replace", "value": {
        "active": "False", "name.familyName": "King",
        "name": {"givenName": "Augusta"}, "displayName": "Whatever"}})
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.given_name, user.family_name, user.is_active) == ("Augusta", "King", False)


def test_patch_removing_family_name_is_refused_naming_the_field(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    body = assert_scim_error(
        scim.patch(f"Users/{user.pk}", {"op": "remove", "path": "name.familyName"}),
        400, "invalidValue")
    assert "name.familyName is required" in body["detail"]


def test_failing_patch_changes_nothing(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    events = Event.objects.count()
    response = scim.patch(
        f"Users/{user.pk}",
        {"op": "replace", "path": "name.givenName", "value": "Augusta"},
        {"op": "replace", "path": "password", "value": "Brand-new-pass-1"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "name.familyName", "value": ""},
    )
    assert_scim_error(response, 400, "invalidValue")
    user.refresh_from_db()
    assert (user.given_name, user.family_name, user.is_active) == ("Ada", "Lovelace", True)
    assert not user.has_usable_password()
    assert Event.objects.count() == events


def test_failing_patch_in_a_later_operation_changes_nothing(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.patch(f"Users/{user.pk}",
                          {"op": "replace", "path": "active", "value": False},
                          {"op": "replace", "path": "meta.created", "value": "x"})
    assert_scim_error(response, 400, "mutability")
    user.refresh_from_db()
    assert user.is_active


def test_patch_to_a_taken_email_is_409(scim, make_user):
    make_user("taken@example.com")
    user = make_user("ada@example.com", "Ada", "Lovelace")
    assert_scim_error(scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "userName",
                                                      "value": "TAKEN@example.com"}),
                      409, "uniqueness")


def test_patch_with_nothing_to_change_writes_no_event(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    events = Event.objects.count()
    response = scim.patch(f"Users/{user.pk}", {"op": "replace", "path": "active", "value": True})
    assert response.status_code == 200
    assert Event.objects.count() == events


def test_delete_user(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    response = scim.delete(f"Users/{user.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not User.objects.filter(pk=user.pk).exists()
    assert Event.objects.filter(action="user.delete", target_id=str(user.pk)).exists()
    assert_scim_error(scim.delete(f"Users/{user.pk}"), 404)


def test_groups_are_listed_on_the_user_and_read_only(scim, make_user):
    from keystead.directory.models import Group
    user = make_user("ada@example.com", "Ada", "Lovelace")
    group = Group.objects.create(name="Analysts")
    group.members.add(user)
    body = scim.get(f"Users/{user.pk}").json()
    assert body["groups"] == [{"value": str(group.pk), "display": "Analysts", "type": "direct",
                               "$ref": f"http://127.0.0.1:8000/scim/v2/Groups/{group.pk}"}]
    assert_scim_error(scim.patch(f"Users/{user.pk}", {"op": "remove", "path": "groups"}), 400,
                      "mutability")


def test_administrator_accounts_need_an_admin_token(scim, scim_admin, admin_user):
    response = scim.patch(f"Users/{admin_user.pk}",
                          {"op": "replace", "path": "password", "value": "taken-over-1"})
    assert_scim_error(response, 403)
    assert_scim_error(scim.delete(f"Users/{admin_user.pk}"), 403)
    admin_user.refresh_from_db()
    assert admin_user.check_password("correct horse battery staple")
    assert scim.get(f"Users/{admin_user.pk}").status_code == 200
    response = scim_admin.patch(f"Users/{admin_user.pk}",
                                {"op": "replace", "path": "name.givenName", "value": "Rooty"})
    assert response.status_code == 200


def test_password_policy_applies_to_scim(scim, make_user):
    user = make_user("ada@example.com", "Ada", "Lovelace")
    for weak in ("Qz1", "Lovelace-Lovelace-1"):
        body = assert_scim_error(scim.patch(f"Users/{user.pk}", {
            "op": "replace", "path": "password", "value": weak}), 400, "invalidValue")
        assert body["detail"].startswith("password: The password")
        assert weak not in body["detail"]
    user.refresh_from_db()
    assert not user.has_usable_password()
    created = scim.post("Users", user_body(email="b@example.com", password="Qz1"))
    assert_scim_error(created, 400, "invalidValue")
    assert not User.objects.filter(email="b@example.com").exists()
