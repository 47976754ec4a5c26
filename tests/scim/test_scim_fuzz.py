"""Property tests: no input, however odd, makes the SCIM endpoints fail with a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

words = st.sampled_from([
    "userName", "name.familyName", "emails", "emails.value", "members", "members.value",
    "meta.lastModified", "active", "id", "externalId", "displayName", "groups.display",
    "eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le", "and", "or", "not", "(", ")",
    "[", "]", '"x"', '"2025-01-01T00:00:00Z"', '"2025-13-45T99:00:00Z"', "true", "null", "12",
    "-1e999", '"\\u0000"', ".value", "urn:ietf:params:scim:schemas:core:2.0:User:userName",
])
filters = st.one_of(st.lists(words, max_size=12).map(" ".join), st.text(max_size=40))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["value", "type", "primary", "givenName", "familyName",
                                       "display", "$ref", "password", "userName", "x"]),
                      children, max_size=3),
    max_leaves=8,
)
paths = st.one_of(st.none(), st.lists(words, max_size=5).map(" ".join), st.sampled_from([
    "name.familyName", 'emails[type eq "work"].value', 'members[value eq "1"]', "active",
    "password", "members", "emails", "id", "meta", "groups", "name", "displayName",
]))
operations = st.fixed_dictionaries({"op": st.sampled_from(["add", "replace", "remove", "Add",
                                                           "nope"]),
                                    "path": paths, "value": json_values})


def assert_answered(response):
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@FUZZ
@given(expression=filters, count=st.integers(-5, 10**12) | st.text(max_size=5))
def test_any_filter_is_answered(scim, expression, count):
    assert_answered(scim.get("Users", filter=expression, count=count, sortBy="userName"))
    assert_answered(scim.get("Groups", filter=expression))
    assert_answered(scim.get("/scim/v2/", filter=expression))


@FUZZ
@given(ops=st.lists(operations, min_size=1, max_size=4))
def test_any_patch_is_answered(scim, make_user, ops):
    user = make_user("fuzz@example.com", "Fuzz", "Target")
    from keystead.directory.models import Group
    group = Group.objects.create(name="Fuzzers")
    group.members.add(user)
    assert_answered(scim.patch(f"Users/{user.pk}", *ops))
    assert_answered(scim.patch(f"Groups/{group.pk}", *ops))
    group.delete()
    user.delete()


@FUZZ
@given(body=json_values)
def test_any_body_is_answered(scim, body):
    raw = json.dumps(body)
    assert_answered(scim.call("POST", "Users", raw=raw))
    assert_answered(scim.call("POST", "Groups", raw=raw))
    assert_answered(scim.call("POST", "Users/.search", raw=raw))
