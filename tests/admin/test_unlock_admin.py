"""Locked users in the console: the filter, the row unlock with confirmation, bulk unlock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from keystead.directory.models import Event, User

from .helpers import changelist_emails, messages_of, user_change_data

pytestmark = pytest.mark.django_db

USERS = "/admin/directory/user/"
LINK = "Locked out (click to unlock)"


def lock(user: User, *, minutes: int | None = 15, failures: int = 5) -> User:
    now = timezone.now()
    until = now + timedelta(minutes=minutes) if minutes is not None else None
    User.objects.filter(pk=user.pk).update(locked_at=now, locked_until=until,
                                           failed_logins=failures)
    user.refresh_from_db()
    return user


@pytest.fixture
def people(make_user):
    ada = lock(make_user("ada@example.com", "Ada", "Lovelace"))
    bob = lock(make_user("bob@example.com", "Bob", "Babbage"), minutes=None)  # until unlocked
    cy = make_user("cy@example.com", "Cy", "Clear")
    old = lock(make_user("old@example.com", "Old", "Lock"))
    past = timezone.now() - timedelta(minutes=1)
    User.objects.filter(pk=old.pk).update(locked_at=past - timedelta(minutes=15),
                                          locked_until=past)  # period over, not yet released
    return {"ada": ada, "bob": bob, "cy": cy, "old": old}


def test_locked_filter_judges_locks_against_the_clock(root_client, people):
    locked = root_client.get(USERS, {"locked": "yes"})
    assert changelist_emails(locked) == ["ada@example.com", "bob@example.com"]
    free = changelist_emails(root_client.get(USERS, {"locked": "no"}))
    assert "cy@example.com" in free and "old@example.com" in free
    assert "ada@example.com" not in free and "bob@example.com" not in free
    page = root_client.get(USERS).content.decode()
    assert "By locked" in page and "Not locked" in page


def test_row_link_is_shown_only_to_holders_of_unlock_user(client_as, people):
    helpdesk, _ = client_as("Helpdesk")
    page = helpdesk.get(USERS, {"locked": "yes"}).content.decode()
    assert page.count(LINK) == 2
    assert f"{USERS}{people['ada'].pk}/unlock/?_changelist_filters=locked%3Dyes" in page
    auditor, _ = client_as("Auditor", email="auditor@example.com")
    page = auditor.get(USERS, {"locked": "yes"}).content.decode()
    assert LINK not in page
    assert "Locked out (until" in page


def test_unlock_asks_first_then_unlocks_with_a_green_banner(client_as, people):
    client, me = client_as("Helpdesk")
    ada = people["ada"]
    url = f"{USERS}{ada.pk}/unlock/?_changelist_filters=locked%3Dyes"

    question = client.get(url)
    assert question.status_code == 200
    page = question.content.decode()
    assert "Are you sure you want to unlock ada@example.com?" in page
    assert 'value="OK"' in page and "Cancel" in page
    assert 'name="csrfmiddlewaretoken"' in page
    ada.refresh_from_db()
    assert ada.is_locked()

    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"{USERS}?locked=yes"
    listing = client.get(response["Location"])
    assert messages_of(listing) == ["ada@example.com is now unlocked."]
    assert 'class="success"' in listing.content.decode()
    assert changelist_emails(listing) == ["bob@example.com"]
    ada.refresh_from_db()
    assert (ada.locked_at, ada.locked_until, ada.failed_logins) == (None, None, 0)
    event = Event.objects.get(action="user.unlock", target_id=str(ada.pk))
    assert event.actor == me
    assert event.detail == {"door": "admin", "was_locked": True}


def test_unlock_needs_a_csrf_token(make_user, people):
    helper = make_user("desk@example.com", roles=("Helpdesk",))
    client = Client(enforce_csrf_checks=True)
    client.force_login(helper)
    assert client.post(f"{USERS}{people['ada'].pk}/unlock/").status_code == 403
    people["ada"].refresh_from_db()
    assert people["ada"].is_locked()


def test_without_unlock_user_the_page_is_forbidden(client_as, people):
    client, _ = client_as("Auditor")
    url = f"{USERS}{people['ada'].pk}/unlock/"
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    people["ada"].refresh_from_db()
    assert people["ada"].is_locked()
    assert not Event.objects.filter(action="user.unlock").exists()


def test_only_a_superuser_unlocks_an_account_with_console_access(client_as, root_client,
                                                                 make_user):
    colleague = lock(make_user("admin2@example.com", roles=("Directory administrator",)))
    helpdesk, _ = client_as("Helpdesk")
    assert helpdesk.get(f"{USERS}{colleague.pk}/unlock/").status_code == 403
    page = helpdesk.get(USERS, {"locked": "yes"}).content.decode()
    assert LINK not in page
    root_client.post(f"{USERS}{colleague.pk}/unlock/")
    colleague.refresh_from_db()
    assert not colleague.is_locked()


def test_unlock_of_an_account_that_is_not_locked_changes_nothing(root_client, people):
    cy = people["cy"]
    response = root_client.post(f"{USERS}{cy.pk}/unlock/", follow=True)
    assert any("Not locked" in m for m in messages_of(response))
    assert not Event.objects.filter(action="user.unlock").exists()


def test_bulk_unlock_confirms_then_unlocks_the_locked_ones(client_as, people):
    client, _ = client_as("Helpdesk")
    selected = [people[k].pk for k in ("ada", "bob", "cy")]
    confirm = client.post(USERS, {"action": "unlock_users", "_selected_action": selected})
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Are you sure you want to unlock these 2 users?" in page
    assert "Not locked, left as they are: cy@example.com." in page
    assert User.objects.get(pk=people["ada"].pk).is_locked()

    done = client.post(USERS, {"action": "unlock_users", "post": "yes",
                               "_selected_action": selected}, follow=True)
    messages = messages_of(done)
    assert "2 users are now unlocked: ada@example.com, bob@example.com." in messages
    assert not User.objects.filter(pk__in=selected, locked_at__isnull=False).exists()
    assert Event.objects.filter(action="user.unlock").count() == 2


def test_bulk_unlock_is_not_offered_without_the_permission(client_as, people):
    client, _ = client_as("Auditor")
    page = client.get(USERS).content.decode()
    assert "unlock_users" not in page
    helpdesk, _ = client_as("Helpdesk", email="desk@example.com")
    assert 'value="unlock_users"' in helpdesk.get(USERS).content.decode()


def test_user_page_shows_the_lock_read_only_with_an_unlock_button(client_as, people):
    client, _ = client_as("Helpdesk")
    bob = people["bob"]
    page = client.get(f"{USERS}{bob.pk}/change/").content.decode()
    assert "Sign-in and lockout" in page
    assert "Locked since" in page and "until an administrator unlocks" in page
    assert "consecutive failed sign-ins" in page.lower()
    assert 'name="failed_logins"' not in page and 'name="locked_at"' not in page
    assert f'href="{USERS}{bob.pk}/unlock/' in page
    assert LINK in page


def test_saving_the_user_page_keeps_a_lock_taken_meanwhile(root_client, make_user):
    """A lock taken between loading the user and saving the form is not overwritten."""
    from django.db.models.signals import pre_save

    cy = make_user("cy@example.com", "Cy", "Clear")

    def concurrent_lock(sender, instance, **kwargs):
        if instance.pk == cy.pk and instance.given_name == "Cyril":
            lock(User(pk=cy.pk))

    pre_save.connect(concurrent_lock, sender=User)
    try:
        root_client.post(f"{USERS}{cy.pk}/change/", user_change_data(cy, given_name="Cyril"))
    finally:
        pre_save.disconnect(concurrent_lock, sender=User)
    cy.refresh_from_db()
    assert cy.given_name == "Cyril"
    assert cy.is_locked() and cy.failed_logins == 5
