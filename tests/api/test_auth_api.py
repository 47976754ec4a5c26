import pytest
from django.test import Client
from django.utils import timezone

from keystead.api.models import ApiToken
from keystead.directory.models import Event

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
