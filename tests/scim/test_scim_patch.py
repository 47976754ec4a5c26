"""PATCH operations on plain dicts (RFC 7644 §3.5.2): pure, no database."""

import pytest

from keystead.api.scim.errors import ScimError
from keystead.api.scim.patch import apply_patch, parse_patch
from keystead.api.scim.projection import parse_projection, project
from keystead.api.scim.schemas import GROUP, PATCH_OP, USER
from keystead.secret import Secret


def user_doc() -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "7",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Barbara Jensen",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "active": True,
        "meta": {"resourceType": "User", "version": 'W/"1"'},
    }


def group_doc() -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "3",
        "displayName": "Tour Guides",
        "members": [{"value": "1", "display": "A"}, {"value": "2", "display": "B"}],
    }


def patch(doc: dict, *ops: dict, schema=USER) -> dict:
    request = parse_patch({"schemas": [PATCH_OP], "Operations": list(ops)}, schema)
    return apply_patch(doc, request.operations, schema)


def refused(doc: dict, *ops: dict, schema=USER) -> ScimError:
    with pytest.raises(ScimError) as info:
        patch(doc, *ops, schema=schema)
    return info.value


def test_replace_sub_attribute():
    doc = patch(user_doc(), {"op": "replace", "path": "name.familyName", "value": "Jones"})
    assert doc["name"] == {"formatted": "Barbara Jensen", "familyName": "Jones",
                           "givenName": "Barbara"}


def test_original_is_not_modified():
    original = user_doc()
    patch(original, {"op": "replace", "path": "active", "value": False})
    assert original["active"] is True


def test_replace_simple_and_case_insensitive_names():
    doc = patch(user_doc(), {"op": "Replace", "path": "ACTIVE", "value": False},
                {"op": "add", "path": "externalid", "value": "ext-1"})
    assert doc["active"] is False
    assert doc["externalId"] == "ext-1"


def test_replace_through_value_filter():
    doc = patch(user_doc(), {"op": "replace", "path": 'emails[type eq "work"].value',
                             "value": "babs@example.com"})
    assert doc["emails"] == [{"value": "babs@example.com", "type": "work", "primary": True}]


def test_replace_without_path_merges_complex_and_sets_simple():
    doc = patch(user_doc(), {"op": "replace", "value": {
        "name": {"givenName": "Babs"}, "active": False, "nickName": "ignored"}})
    assert doc["name"]["givenName"] == "Babs"
    assert doc["name"]["familyName"] == "Jensen"
    assert doc["active"] is False
    assert "nickName" not in doc


def test_add_without_path_like_rfc_example():
    doc = patch(user_doc(), {"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}], "externalId": "x"}})
    assert [e["value"] for e in doc["emails"]] == ["bjensen@example.com", "babs@jensen.org"]
    assert doc["externalId"] == "x"


def test_new_primary_demotes_the_old_one():
    doc = patch(user_doc(), {"op": "add", "path": "emails",
                             "value": [{"value": "new@example.com", "primary": True}]})
    assert [e.get("primary") for e in doc["emails"]] == [False, True]


def test_remove_attribute_and_sub_attribute():
    doc = patch(user_doc(), {"op": "remove", "path": "name.familyName"},
                {"op": "remove", "path": "externalId"})
    assert "familyName" not in doc["name"]
    assert "externalId" not in doc


@pytest.mark.parametrize("path", ["emails", 'emails[type eq "work"]', "name", "active",
                                  "userName"])
def test_required_attributes_cannot_be_removed(path):
    error = refused(user_doc(), {"op": "remove", "path": path})
    assert error.scim_type == "invalidValue"
    assert path.split("[")[0] in error.detail and "required" in error.detail


def test_remove_needs_a_path():
    assert refused(user_doc(), {"op": "remove"}).scim_type == "noTarget"


def test_group_members_add_and_remove_by_filter():
    doc = patch(group_doc(), {"op": "add", "path": "members",
                              "value": [{"value": "5"}, {"value": "2"}]},
                {"op": "remove", "path": 'members[value eq "1"]'}, schema=GROUP)
    assert [m["value"] for m in doc["members"]] == ["2", "5"]


def test_remove_all_members_and_remove_listed_values():
    doc = patch(group_doc(), {"op": "remove", "path": "members",
                              "value": [{"value": "1"}]}, schema=GROUP)
    assert [m["value"] for m in doc["members"]] == ["2"]
    assert "members" not in patch(group_doc(), {"op": "remove", "path": "members"}, schema=GROUP)


def test_replace_members_replaces_the_list():
    doc = patch(group_doc(), {"op": "replace", "path": "members", "value": [{"value": "9"}]},
                schema=GROUP)
    assert doc["members"] == [{"value": "9"}]


def test_remove_with_filter_that_matches_nothing_is_a_no_op():
    doc = patch(group_doc(), {"op": "remove", "path": 'members[value eq "42"]'}, schema=GROUP)
    assert len(doc["members"]) == 2


def test_replace_with_filter_that_matches_nothing_is_no_target():
    error = refused(user_doc(), {"op": "replace", "path": 'emails[type eq "home"].value',
                                 "value": "x@example.com"})
    assert error.scim_type == "noTarget"


def test_add_with_filter_that_matches_nothing_creates_the_value():
    doc = patch(user_doc(), {"op": "add", "path": 'emails[type eq "home"].value',
                             "value": "home@example.com"})
    assert doc["emails"][-1] == {"type": "home", "value": "home@example.com"}


@pytest.mark.parametrize(("op", "scim_type"), [
    ({"op": "replace", "path": "id", "value": "8"}, "mutability"),
    ({"op": "replace", "path": "meta.lastModified", "value": "x"}, "mutability"),
    ({"op": "add", "path": "groups", "value": [{"value": "1"}]}, "mutability"),
    ({"op": "replace", "value": {"id": "8"}}, "mutability"),
    ({"op": "replace", "path": "nickNme", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "name.middleName", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": 'active[value eq "x"]', "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "emails[", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": 'emails[nope eq "x"].value', "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "urn:other:schema:attr", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": 5, "value": "x"}, "invalidPath"),
    ({"op": "replace", "value": "not an object"}, "invalidValue"),
    ({"op": "replace", "path": "name", "value": "Ada"}, "invalidValue"),
    ({"op": "add", "path": "active"}, "invalidValue"),
    ({"op": "move", "path": "active", "value": True}, "invalidSyntax"),
    ({"path": "active", "value": True}, "invalidSyntax"),
])
def test_bad_operations_are_refused_with_the_right_scim_type(op, scim_type):
    error = refused(user_doc(), op)
    assert error.status == 400
    assert error.scim_type == scim_type
    assert error.detail


def test_immutable_member_value_cannot_be_rewritten():
    error = refused(group_doc(), {"op": "replace", "path": 'members[value eq "1"].value',
                                  "value": "2"}, schema=GROUP)
    assert error.scim_type == "mutability"


def test_derived_attributes_are_ignored():
    doc = patch(user_doc(), {"op": "replace", "path": "displayName", "value": "Babs"},
                {"op": "replace", "path": "name.formatted", "value": "Babs J"})
    assert doc == user_doc()


def test_echoing_read_only_values_back_is_harmless():
    doc = user_doc()
    assert patch(doc, {"op": "replace", "value": {"id": "7", "meta": {"x": 1}}}) == doc


@pytest.mark.parametrize("body", [
    {"Operations": []},
    {"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "active", "value": True}]},
    {"schemas": [PATCH_OP]},
    {"schemas": [PATCH_OP], "Operations": ["add"]},
])
def test_malformed_patch_messages(body):
    with pytest.raises(ScimError) as info:
        parse_patch(body, USER)
    assert info.value.scim_type == "invalidSyntax"


def test_password_is_taken_out_as_a_secret():
    request = parse_patch({"Operations": [
        {"op": "replace", "path": "password", "value": "hunter2-Canary"},
        {"op": "replace", "value": {"Password": "second-Canary", "active": False}},
    ]}, USER)
    assert isinstance(request.secrets["password"], Secret)
    assert request.secrets["password"].reveal() == "second-Canary"
    assert len(request.operations) == 1
    assert "Canary" not in repr(request.operations)


def test_password_with_a_schema_prefix_is_a_secret_too():
    body = {"Operations": [
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password",
         "value": "first-Canary"},
        {"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:password":
                                    "second-Canary"}},
    ]}
    request = parse_patch(body, USER)
    assert request.secrets["password"].reveal() == "second-Canary"
    assert "Canary" not in repr(body)
    assert "password" not in apply_patch(user_doc(), request.operations, USER)


@pytest.mark.parametrize("op", [
    {"op": "remove", "path": "password"},
    {"op": "replace", "path": "password", "value": 12345},
    {"op": "replace", "path": "password", "value": ""},
])
def test_bad_password_operations_never_echo_the_value(op):
    with pytest.raises(ScimError) as info:
        parse_patch({"Operations": [op]}, USER)
    assert info.value.scim_type == "invalidValue"
    assert "12345" not in info.value.detail


def test_projection_of_attributes_and_excluded_attributes():
    doc = user_doc()
    only = project(doc, parse_projection("userName,name.givenName", None, USER))
    assert set(only) == {"schemas", "id", "userName", "name"}
    assert only["name"] == {"givenName": "Barbara"}
    without = project(doc, parse_projection(None, "emails,name.formatted,id", USER))
    assert "emails" not in without and "id" in without
    assert "formatted" not in without["name"]
    urn = project(doc, parse_projection("urn:ietf:params:scim:schemas:core:2.0:User:active",
                                        None, USER))
    assert set(urn) == {"schemas", "id", "active"}
