"""/api/v1/policy and /api/v1/groups/{id}/policy: read, change, check, audit, scopes."""

from __future__ import annotations

import pytest

from keystead.api.tokens import issue_token
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, User
from keystead.policy.changes import settings_of
from keystead.policy.models import GroupPolicy, LogonPolicy
from keystead.policy.services import effective_policy

pytestmark = pytest.mark.django_db


def full(**overrides):
    return {**settings_of(LogonPolicy.current()), **overrides}


def test_read_the_installation_policy_with_the_nist_defaults(api_with):
    body = api_with("policy:read").get("/api/v1/policy").json()
    assert body["min_length"] == 15
    assert body["max_length"] >= 64
    assert (body["max_failures"], body["lock_minutes"], body["expire_days"]) == (10, 15, 0)
    assert body["screen_common"] is True
    assert body["advice"] == []


def test_patch_changes_only_the_settings_given_and_is_audited(api_with):
    response = api_with("policy:write").patch("/api/v1/policy",
                                              {"max_failures": 5, "lock_minutes": 30})
    assert response.status_code == 200, response.content
    assert (response.json()["max_failures"], response.json()["min_length"]) == (5, 15)
    event = Event.objects.get(action="policy.update")
    assert event.detail == {"door": "api",
                            "changed": {"max_failures": [10, 5], "lock_minutes": [15, 30]}}
    assert event.actor_label.startswith("root@example.com (token ")


def test_put_replaces_every_setting_and_reports_advice(api_with):
    client = api_with("policy:write")
    response = client._send("put", "/api/v1/policy", full(expire_days=90, min_digits=1))
    assert response.status_code == 200, response.content
    advice = " ".join(response.json()["advice"])
    assert "Periodic expiry" in advice and "Character-type rules" in advice
    incomplete = client._send("put", "/api/v1/policy", {"min_length": 16})
    assert incomplete.status_code == 400
    assert "max_length" in {e["field"] for e in incomplete.json()["errors"]}


def test_bad_values_are_refused_with_every_problem_named(api):
    response = api.patch("/api/v1/policy", {"max_length": 32, "warn_days": 400,
                                            "reuse_blocked": -5})
    assert response.status_code == 400
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors["max_length"].startswith("max_length must be from 64 to 4096")
    assert "warn_days must be from 0 to 365" in errors["warn_days"]
    assert "-1 blocks every previous password" in errors["reuse_blocked"]
    assert LogonPolicy.current().max_length == 128
    assert not Event.objects.filter(action="policy.update").exists()


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"min_length": 100, "max_length": 64}, "max_length", "must be at least min_length (100)"),
    ({"expire_days": 7, "warn_days": 14}, "warn_days", "must be less than expire_days (7)"),
    ({"min_length": 4}, "min_length", "NIST SP 800-63B-4"),
    ({"max_failures": 101}, "max_failures", "at most 100"),
])
def test_rules_between_settings(api, change, field, words):
    response = api.patch("/api/v1/policy", change)
    assert response.status_code == 400
    messages = [e["message"] for e in response.json()["errors"] if e["field"] == field]
    assert messages and words in messages[0], response.json()


@pytest.mark.parametrize("body", [
    {"min_length": "16"}, {"screen_common": "yes"}, {"min_length": 16.5},
    {"min_length": None}, {"max_failures": True},
])
def test_wrong_types_and_nulls_are_400(api, body):
    response = api.patch("/api/v1/policy", body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == next(iter(body))


def test_scopes(api_with):
    assert api_with("users:read").get("/api/v1/policy").status_code == 403
    assert api_with("policy:read").patch("/api/v1/policy", {"min_length": 16}).status_code == 403
    assert api_with("policy:write").get("/api/v1/policy").status_code == 200


# -- group policies ---------------------------------------------------------


@pytest.fixture
def admins(db) -> Group:
    group = Group.objects.create(name="Admins")
    group.members.add(User.objects.create_user("ada@example.com", "Ada", "Lovelace"))
    return group


def test_group_without_a_policy_is_404_with_a_hint(api, admins):
    response = api.get(f"/api/v1/groups/{admins.pk}/policy")
    assert response.status_code == 404
    assert "the installation's applies" in response.json()["detail"]
    assert api.get("/api/v1/groups/999999/policy").status_code == 404


def test_patch_creates_from_the_installation_values_then_changes(api, admins):
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(max_failures=8)
    url = f"/api/v1/groups/{admins.pk}/policy"
    created = api.patch(url, {"min_length": 20})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["group"] == {"id": admins.pk, "name": "Admins"}
    assert (body["min_length"], body["max_failures"]) == (20, 8)
    event = Event.objects.get(action="policy.group.create")
    assert event.detail["door"] == "api" and event.detail["settings"]["min_length"] == 20

    changed = api.patch(url, {"reuse_blocked": -1})
    assert changed.status_code == 200
    assert Event.objects.get(action="policy.group.update").detail["changed"] == {
        "reuse_blocked": [0, -1]}
    ada = admins.members.get()
    assert effective_policy(ada).password.min_length == 20


def test_put_creates_or_replaces_and_delete_removes(api, admins):
    url = f"/api/v1/groups/{admins.pk}/policy"
    assert api._send("put", url, full(max_failures=3)).status_code == 201
    assert api._send("put", url, full(max_failures=4)).status_code == 200
    assert GroupPolicy.objects.get(group=admins).max_failures == 4
    assert api.get(url).json()["max_failures"] == 4
    assert api.delete(url).status_code == 204
    assert not GroupPolicy.objects.exists()
    assert Event.objects.get(action="policy.group.delete").detail["group"] == "Admins"
    assert api.delete(url).status_code == 404


def test_group_policy_gets_the_same_checks(api, admins):
    response = api.patch(f"/api/v1/groups/{admins.pk}/policy", {"max_length": 10})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "max_length"
    assert not GroupPolicy.objects.exists()


# -- guessability (zxcvbn) through the API --------------------------------------------

WEAK_BUT_LONG = ["passwordpassword", "1234567890123456", "qwertyuiopasdfghjkl"]


def test_min_strength_is_read_and_changed_like_every_setting(api_with):
    client = api_with("policy:read", "policy:write")
    assert client.get("/api/v1/policy").json()["min_strength"] == 3
    response = client.patch("/api/v1/policy", {"min_strength": 4})
    assert response.status_code == 200 and response.json()["min_strength"] == 4
    refused = client.patch("/api/v1/policy", {"min_strength": 7})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "min_strength"
    assert "from 0 to 4" in refused.json()["errors"][0]["message"]
    lowered = client.patch("/api/v1/policy", {"min_strength": 1}).json()
    assert any("minimum strength score below 3" in a for a in lowered["advice"])
    schema = client.client.get("/api/openapi.json").json()
    field = schema["components"]["schemas"]["PolicySettingsIn"]["properties"]["min_strength"]
    assert (field["minimum"], field["maximum"]) == (0, 4)


@pytest.mark.parametrize("password", WEAK_BUT_LONG)
def test_long_but_guessable_passwords_are_refused_by_the_default_policy(api, password):
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    response = api.post(f"/api/v1/users/{ada.pk}/password", {"password": password})
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["password"]
    assert errors[0]["message"].startswith("The password is too easy to guess (")
    assert password.encode() not in response.content
    assert not User.objects.get(pk=ada.pk).check_password(password)


def test_a_strong_passphrase_is_accepted(api):
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    response = api.post(f"/api/v1/users/{ada.pk}/password",
                        {"password": "Harbour violet compass lantern"})
    assert response.status_code == 204, response.content
    assert User.objects.get(pk=ada.pk).check_password("Harbour violet compass lantern")


def test_a_group_can_raise_the_minimum_score(api):
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    admins = Group.objects.create(name="Admins")
    admins.members.add(ada)
    created = api.patch(f"/api/v1/groups/{admins.pk}/policy", {"min_strength": 4})
    assert created.status_code == 201 and created.json()["min_strength"] == 4
    grace = User.objects.create_user("grace@example.com", "Grace", "Hopper")
    # "summerhorsegarden" scores 3: enough for the installation, not for Admins.
    assert api.post(f"/api/v1/users/{grace.pk}/password",
                    {"password": "summerhorsegarden"}).status_code == 204
    refused = api.post(f"/api/v1/users/{ada.pk}/password", {"password": "summerhorsegarden"})
    assert refused.status_code == 400
    assert "it scores 3 of 4 for strength, the policy asks for 4" in refused.json()["detail"]


def test_the_api_and_the_console_ask_the_same_permission_to_change_a_policy(person_with,
                                                                            api_for_token):
    """The console lets anyone holding directory.manage_policy change the logon policies;
    the policy service decides so for the API too, without the models' own permissions."""
    manager = person_with("manager@example.com", "directory.manage_policy")
    token, clear = issue_token(name="policy", scopes=["policy:write"], owner=manager,
                               actor=OPERATOR, door="test")
    api = api_for_token(clear.reveal())
    assert api.patch("/api/v1/policy", {"max_failures": 7}).status_code == 200
    group = Group.objects.create(name="Admins")
    assert api.patch(f"/api/v1/groups/{group.pk}/policy",
                     {"min_length": 20}).status_code == 201
    assert api.delete(f"/api/v1/groups/{group.pk}/policy").status_code == 204
    assert LogonPolicy.current().max_failures == 7 and not GroupPolicy.objects.exists()
    assert set(Event.objects.filter(action__startswith="policy.").values_list(
        "actor_label", flat=True)) == {f"manager@example.com (token {token.key_id})"}
