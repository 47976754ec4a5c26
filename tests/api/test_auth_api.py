import pytest
from django.test import Client
from django.utils import timezone

from keystead.api.models import ApiToken
from keystead.api.tokens import issue_token, revoke_token
from keystead.directory.authorization import OPERATOR, SCOPE_PERMISSIONS, Actor, NotAllowed
from keystead.directory.models import Event, Outcome

pytestmark = pytest.mark.django_db


def test_no_token_is_401_with_hint(client: Client):
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_wrong_token_is_401_and_audited(client: Client, db):
    response = client.get("/api/v1/users", headers={"Authorization": "Bearer kst_nope_nope"})
    assert response.status_code == 401
    event = Event.objects.get(action="api.auth")
    assert event.outcome == "denied"
    assert "kst_nope" not in str(event.detail)


def test_missing_scope_is_403_naming_it(api_with):
    api = api_with("users:read")
    assert api.get("/api/v1/users").status_code == 200
    response = api.post("/api/v1/users", {"email": "a@example.com", "given_name": "A",
                                          "family_name": "B"})
    assert response.status_code == 403
    assert "users:write" in response.json()["detail"]


def test_write_scope_implies_read(api_with):
    assert api_with("groups:write").get("/api/v1/groups").status_code == 200


def test_revoked_and_expired_tokens_stop_working(api, api_with):
    other = api_with("users:read")
    assert other.get("/api/v1/users").status_code == 200
    token = ApiToken.objects.filter(scopes=["users:read"]).get()
    assert api.delete(f"/api/v1/tokens/{token.key_id}").status_code == 204
    assert other.get("/api/v1/users").status_code == 401

    third = api_with("users:read")
    ApiToken.objects.filter(scopes=["users:read"], revoked_at=None).update(
        expires_at=timezone.now()
    )
    assert third.get("/api/v1/users").status_code == 401


def test_token_created_through_api_is_shown_once_and_stored_hashed(api):
    response = api.post("/api/v1/tokens", {"name": "ci", "scopes": ["events:read"], "days": 1})
    assert response.status_code == 201
    clear = response.json()["token"]
    stored = ApiToken.objects.get(name="ci")
    assert clear not in stored.token_hash and stored.token_hash != clear
    listed = api.get("/api/v1/tokens").content.decode()
    assert clear not in listed
    assert ApiToken.find(clear) == stored


def test_unknown_scope_refused(api):
    response = api.post("/api/v1/tokens", {"name": "x", "scopes": ["everything"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "scopes"


def test_a_token_never_mints_a_broader_token_than_the_console_would(person_with,
                                                                     api_for_token):
    """Only a superuser grants ``admin`` in the console; the token service gives the same
    answer to an ``admin`` token whose owner holds every permission but is no superuser,
    and the refusal is audited."""
    deputy = person_with("deputy@example.com", *sorted(SCOPE_PERMISSIONS["admin"]))
    _, clear = issue_token(name="deputy", scopes=["admin"], owner=deputy, actor=OPERATOR,
                           door="test")
    api = api_for_token(clear.reveal())
    refused = api.post("/api/v1/tokens", {"name": "wider", "scopes": ["admin"]})
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert ApiToken.objects.count() == 1
    event = Event.objects.get(action="api_token.create", outcome=Outcome.DENIED)
    assert event.actor_label.startswith("deputy@example.com (token ")
    narrow = api.post("/api/v1/tokens", {"name": "narrow", "scopes": ["users:write"]})
    assert narrow.status_code == 201 and ApiToken.objects.get(name="narrow").owner == deputy


def test_the_token_service_decides_who_issues_and_revokes_for_every_door(person_with,
                                                                          admin_user):
    """Issuing needs api.add_apitoken, a token for oneself and scopes within one's own
    permissions; revoking needs api.change_apitoken. Each refusal is audited."""
    clerk = person_with("clerk@example.com", "api.add_apitoken", "directory.view_user")
    acting = Actor.person(clerk)
    with pytest.raises(NotAllowed, match="someone else"):
        issue_token(name="x", scopes=["users:read"], owner=admin_user, actor=acting)
    with pytest.raises(NotAllowed, match="users:write"):
        issue_token(name="x", scopes=["users:read", "users:write"], owner=clerk, actor=acting)
    mine, _ = issue_token(name="mine", scopes=["users:read"], owner=clerk, actor=acting)
    with pytest.raises(NotAllowed, match=r"api\.change_apitoken"):
        revoke_token(mine, actor=acting)
    nobody = person_with("nobody@example.com", "directory.view_user")
    with pytest.raises(NotAllowed, match=r"api\.add_apitoken"):
        issue_token(name="x", scopes=["users:read"], owner=nobody, actor=Actor.person(nobody))
    mine.refresh_from_db()
    assert mine.revoked_at is None and ApiToken.objects.count() == 1
    assert sorted(Event.objects.filter(outcome=Outcome.DENIED).values_list(
        "action", flat=True)) == ["api_token.create"] * 3 + ["api_token.revoke"]


def test_a_token_never_mints_a_token_that_outlives_it(admin_user, api_for_token):
    """A token that ends in a week cannot make a lasting one: an explicit longer lifetime
    (or never) is refused naming ``days``; without ``days`` the new token ends with it."""
    maker, clear = issue_token(name="short", scopes=["admin"], owner=admin_user,
                               actor=OPERATOR, days=7, door="test")
    api = api_for_token(clear.reveal())
    for days in (0, 30):
        refused = api.post("/api/v1/tokens", {"name": "lasting", "scopes": ["users:read"],
                                              "days": days})
        assert refused.status_code == 400, refused.content
        problem = refused.json()["errors"][0]
        assert problem["field"] == "days" and "at most 6 days" in problem["message"]
    assert not ApiToken.objects.filter(name="lasting").exists()
    capped = api.post("/api/v1/tokens", {"name": "capped", "scopes": ["users:read"]})
    assert capped.status_code == 201
    assert ApiToken.objects.get(name="capped").expires_at == maker.expires_at
    within = api.post("/api/v1/tokens", {"name": "within", "scopes": ["users:read"],
                                         "days": 3})
    assert within.status_code == 201
    assert ApiToken.objects.get(name="within").expires_at < maker.expires_at


def test_the_token_and_application_lists_are_paginated_like_every_list(api):
    for name in ("one", "two", "three"):
        assert api.post("/api/v1/tokens", {"name": name, "scopes": ["users:read"]}
                        ).status_code == 201
        assert api.post("/api/v1/clients", {"name": f"App {name}", "redirect_uris": [
            "https://app.example.com/cb"]}).status_code == 201
    tokens = api.get("/api/v1/tokens?limit=2").json()
    assert tokens["count"] == ApiToken.objects.count() == 4  # with the caller's own
    assert [t["name"] for t in tokens["items"]] == ["three", "two"]  # the newest first
    clients = api.get("/api/v1/clients?limit=2&offset=1").json()
    assert clients["count"] == 3
    assert [c["name"] for c in clients["items"]] == ["App three", "App two"]
