"""GET /api/v1/groups and /api/v1/roles: who belongs to each, or (``members=false``) not.

A directory's groups can hold thousands of people; a list that only needs the groups
asks without their members. Either way the statements a page costs do not grow with
the rows on it or with the members they hold.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keystead.directory.models import Group, Role, User

pytestmark = pytest.mark.django_db


def people(count: int, start: int) -> list[User]:
    return User.objects.bulk_create([
        User(email=f"p{i:04d}@example.com", username=f"p{i:04d}", given_name="Given",
             family_name=f"Family {i}", password="!") for i in range(start, start + count)])


def fill(groups: int, members: int) -> None:
    """``groups`` groups and as many roles, each held by ``members`` people and the group."""
    start = Group.objects.count()
    for i in range(start, start + groups):
        crowd = people(members, start=1000 * (i + 1))
        group = Group.objects.create(name=f"group {i}")
        group.members.add(*crowd)
        role = Role.objects.create(name=f"role {i}")
        role.users.add(*crowd)
        role.groups.add(group)


@pytest.mark.parametrize("path", ["/api/v1/groups", "/api/v1/roles"])
def test_the_list_shows_who_belongs_unless_asked_not_to(api, path):
    fill(2, 3)
    sizes = {"members": 3} if path.endswith("groups") else {"users": 3, "groups": 1}
    fields = tuple(sizes)
    for query in ({}, {"members": "true"}):
        items = api.get(path, **query).json()["items"]
        assert len(items) == 2
        for item in items:
            assert {f: len(item[f]) for f in fields} == sizes, item
    lean = api.get(path, members="false", q="1")
    assert lean.status_code == 200, lean.content
    (item,) = lean.json()["items"]
    assert item["name"].endswith(" 1")
    assert {f: item[f] for f in fields} == dict.fromkeys(fields)
    assert item["created_at"] and item["updated_at"]


@pytest.mark.parametrize("path", ["/api/v1/groups", "/api/v1/roles"])
def test_a_bad_members_value_is_a_400_naming_it(api, path):
    answer = api.get(path, members="sometimes")
    assert answer.status_code == 400, answer.content
    assert [e["field"] for e in answer.json()["errors"]] == ["members"]


def statements(api, path: str, **query: str) -> int:
    api.get(path, **query)  # the first call also fills caches once
    with CaptureQueriesContext(connection) as queries:
        answer = api.get(path, **query)
    assert answer.status_code == 200, answer.content
    return len(queries)


@pytest.mark.parametrize("path", ["/api/v1/groups", "/api/v1/roles"])
@pytest.mark.parametrize("members", ["true", "false"])
def test_a_page_costs_as_many_statements_for_many_large_groups_as_for_few_small(
        api, path, members):
    fill(3, 2)
    few = statements(api, path, members=members)
    fill(30, 20)
    many = statements(api, path, members=members)
    assert many == few


def test_leaving_members_out_saves_the_statements_that_read_them(api):
    fill(3, 2)
    assert statements(api, "/api/v1/groups", members="false") \
        == statements(api, "/api/v1/groups") - 1
    assert statements(api, "/api/v1/roles", members="false") \
        == statements(api, "/api/v1/roles") - 2


def test_the_openapi_description_documents_the_option(api):
    doc = api.get("/api/openapi.json").json()
    for path, item, fields in (("/api/v1/groups", "GroupListItem", ["members"]),
                               ("/api/v1/roles", "RoleListItem", ["users", "groups"])):
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert params["members"]["schema"]["type"] == "boolean"
        assert params["members"]["schema"]["default"] is True
        assert "false" in params["members"]["description"]
        schema = doc["components"]["schemas"][item]
        for field in fields:
            assert {"type": "null"} in schema["properties"][field]["anyOf"]
            assert field in schema["required"]


def test_joining_a_group_by_the_api_moves_the_persons_updated_at(api):
    ada = people(1, start=0)[0]
    group = Group.objects.create(name="Staff")
    before = api.get(f"/api/v1/users/{ada.pk}").json()
    answer = api.post(f"/api/v1/groups/{group.pk}/members", {"add": [ada.pk]})
    assert answer.status_code == 200, answer.content
    after = api.get(f"/api/v1/users/{ada.pk}").json()
    assert after["groups"] == [{"id": group.pk, "name": "Staff"}]
    assert after["updated_at"] > before["updated_at"]
    assert after["updated_at"] == answer.json()["updated_at"]
