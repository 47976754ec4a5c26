from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.directory.models import Event, Group

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(api):
    return [
        api.post("/api/v1/users", {"email": f"p{i}@example.com", "given_name": "P",
                                   "family_name": str(i)}).json()["id"]
        for i in range(3)
    ]


def test_group_lifecycle(api, people):
    created = api.post("/api/v1/groups", {"name": "Engineering", "member_ids": people[:2]})
    assert created.status_code == 201
    group_id = created.json()["id"]
    changed = api.post(f"/api/v1/groups/{group_id}/members",
                       {"add": [people[2]], "remove": [people[0]]})
    assert {m["id"] for m in changed.json()["members"]} == {people[1], people[2]}
    user = api.get(f"/api/v1/users/{people[2]}").json()
    assert user["groups"] == [{"id": group_id, "name": "Engineering"}]
    assert api.get("/api/v1/users", group=group_id).json()["count"] == 2
    assert api.post("/api/v1/groups", {"name": "engineering"}).status_code == 409
    assert api.delete(f"/api/v1/groups/{group_id}").status_code == 204
    assert not Group.objects.exists()


def test_group_with_unknown_member_is_refused_without_partial_write(api):
    response = api.post("/api/v1/groups", {"name": "Ghosts", "member_ids": [424242]})
    assert response.status_code == 400
    assert "424242" in response.json()["errors"][0]["message"]
    assert not Group.objects.filter(name="Ghosts").exists()


def test_role_held_by_users_and_groups(api, people):
    group_id = api.post("/api/v1/groups", {"name": "Ops"}).json()["id"]
    role = api.post("/api/v1/roles", {"name": "VPN", "user_ids": [people[0]],
                                      "group_ids": [group_id]})
    assert role.status_code == 201
    body = role.json()
    assert body["users"][0]["id"] == people[0] and body["groups"][0]["name"] == "Ops"
    renamed = api.patch(f"/api/v1/roles/{body['id']}", {"name": "VPN access"})
    assert renamed.json()["name"] == "VPN access"
    assert api.post("/api/v1/roles", {"name": " "}).status_code == 400


def test_events_filtered_by_action_prefix_and_time(api, people):
    Event.objects.filter(action="user.create").update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    api.post("/api/v1/groups", {"name": "Recent"})
    recent = api.get("/api/v1/events", since=(timezone.now() - timedelta(hours=1)).isoformat())
    actions = {e["action"] for e in recent.json()["items"]}
    assert "group.create" in actions and "user.create" not in actions
    users = api.get("/api/v1/events", action="user.").json()
    assert users["count"] == 3
