from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, Outcome, User

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


def test_a_write_scope_does_what_its_owner_may_in_the_console_and_no_more(
        person_with, api_for_token):
    """groups:write on a token whose owner may change groups but not create or delete
    them: the API gives the console's answer for each change, decided by the service."""
    owner = person_with("editor@example.com", "directory.view_group",
                        "directory.change_group")
    _, clear = issue_token(name="t", scopes=["groups:write"], owner=owner, actor=OPERATOR,
                           door="test")
    api = api_for_token(clear.reveal())
    group = Group.objects.create(name="Staff")
    renamed = api.patch(f"/api/v1/groups/{group.pk}", {"name": "Crew"})
    assert renamed.status_code == 200, renamed.content
    created = api.post("/api/v1/groups", {"name": "Admins"})
    assert created.status_code == 403 and "directory.add_group" in created.json()["detail"]
    deleted = api.delete(f"/api/v1/groups/{group.pk}")
    assert deleted.status_code == 403 and "directory.delete_group" in deleted.json()["detail"]
    assert list(Group.objects.values_list("name", flat=True)) == ["Crew"]
    assert set(Event.objects.filter(outcome=Outcome.DENIED, action__startswith="group.")
               .values_list("action", flat=True)) == {"group.create", "group.delete"}


def test_a_refusal_no_service_recorded_is_recorded_by_the_api(person_with, api_for_token):
    """Actions on people are refused by ``require``, which records nothing itself: the
    API records the refused request, with the refusal's words."""
    owner = person_with("desk@example.com", "directory.view_user", "directory.change_user")
    token, clear = issue_token(name="t", scopes=["users:write"], owner=owner, actor=OPERATOR,
                               door="test")
    target = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=None)
    answer = api_for_token(clear.reveal()).delete(f"/api/v1/users/{target.pk}")
    assert answer.status_code == 403
    (event,) = Event.objects.filter(action="api.refused")
    assert event.outcome == Outcome.DENIED
    assert event.actor_label == f"desk@example.com (token {token.key_id})"
    assert event.detail == {"method": "DELETE", "path": f"/api/v1/users/{target.pk}",
                            "reason": answer.json()["detail"]}
    assert "directory.delete_user" in event.detail["reason"]
