"""POST /api/v1/users/{id}/unlock, the lock fields on users and the ?locked= filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keystead.directory.models import Event, User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

PASSWORD = "Quartz-Lantern-Meadow-7"


@pytest.fixture
def ada(db) -> User:
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def lock_by_failures(user: User, times: int = 3) -> None:
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(max_failures=times, lock_minutes=0)
    for _ in range(times):
        sign_in_with_password(user.email, Secret("wrong password, surely"))
    user.refresh_from_db()
    assert user.is_locked()


def test_users_show_lock_state(api, ada):
    body = api.get(f"/api/v1/users/{ada.pk}").json()
    assert (body["locked"], body["locked_until"], body["failed_logins"]) == (False, None, 0)
    lock_by_failures(ada)
    body = api.get(f"/api/v1/users/{ada.pk}").json()
    assert (body["locked"], body["locked_until"], body["failed_logins"]) == (True, None, 3)


def test_unlock_through_the_api_lets_the_person_sign_in_again(api_with, ada):
    lock_by_failures(ada)
    assert sign_in_with_password(ada.email, Secret(PASSWORD)).result is Result.FAILED
    response = api_with("users:write").post(f"/api/v1/users/{ada.pk}/unlock", {})
    assert response.status_code == 200, response.content
    assert (response.json()["locked"], response.json()["failed_logins"]) == (False, 0)
    event = Event.objects.get(action="user.unlock", target_id=str(ada.pk))
    assert event.detail == {"door": "api", "was_locked": True}
    assert sign_in_with_password(ada.email, Secret(PASSWORD)).result is Result.OK


def test_unlock_needs_users_write_and_an_existing_user(api_with, ada):
    assert api_with("users:read").post(f"/api/v1/users/{ada.pk}/unlock", {}).status_code == 403
    response = api_with("users:write").post("/api/v1/users/424242/unlock", {})
    assert response.status_code == 404
    assert response.json()["detail"] == "No user with id 424242."


def test_locked_filter(api, ada):
    bob = User.objects.create_user("bob@example.com", "Bob", "Babbage")
    over = User.objects.create_user("over@example.com", "Over", "Due")
    now = timezone.now()
    User.objects.filter(pk=bob.pk).update(locked_at=now, locked_until=now + timedelta(hours=1))
    User.objects.filter(pk=over.pk).update(locked_at=now - timedelta(hours=2),
                                           locked_until=now - timedelta(hours=1))

    def emails(**params):
        return [u["email"] for u in api.get("/api/v1/users", **params).json()["items"]]

    assert emails(locked="true") == ["bob@example.com"]
    assert "bob@example.com" not in emails(locked="false")
    assert {"ada@example.com", "over@example.com"} <= set(emails(locked="false"))
    bob_body = api.get(f"/api/v1/users/{bob.pk}").json()
    assert bob_body["locked_until"] is not None
    assert api.get(f"/api/v1/users/{over.pk}").json()["locked_until"] is None
