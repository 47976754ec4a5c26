"""API tokens in the console: issued once, stored hashed, never editable, revocable."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from keystead.api.models import ApiToken, hash_token
from keystead.directory.models import Event

from .helpers import messages_of

pytestmark = pytest.mark.django_db
TOKENS = "/admin/api/apitoken/"
TOKEN_RE = re.compile(r"kst_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def _issue(client, **overrides):
    data = {"name": "HR sync", "scopes": ["users:read", "groups:read"], "lifetime_days": "30"}
    data.update(overrides)
    return client.post(TOKENS + "add/", data)


def _all_text_in_database() -> str:
    """Every row of the tables a token could leak into, as one string."""
    dump = []
    with connection.cursor() as cursor:
        for table in ("api_apitoken", "directory_event", "django_admin_log", "django_session"):
            cursor.execute(f"SELECT * FROM {table}")
            dump.extend(str(row) for row in cursor.fetchall())
    return "\n".join(dump)


def test_token_is_shown_once_and_stored_only_as_a_hash(root_client, admin_user):
    response = _issue(root_client)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Copy it now: it will not be shown again" in page
    clear = TOKEN_RE.search(page).group(0)
    assert "no-store" in response["Cache-Control"]

    token = ApiToken.objects.get()
    assert token.token_hash == hash_token(clear)
    assert (token.name, token.scopes, token.owner) == ("HR sync", ["users:read", "groups:read"],
                                                      admin_user)
    assert 29 <= (token.expires_at - token.created_at).days <= 30
    assert clear not in _all_text_in_database()

    for url in (TOKENS, f"{TOKENS}{token.pk}/change/", "/admin/directory/event/"):
        later = root_client.get(url)
        assert clear not in later.content.decode(), url
        assert not TOKEN_RE.search(later.content.decode()), url
    assert Event.objects.filter(action="api_token.create", target_id=str(token.pk)).exists()


def test_issued_token_works_against_the_api(root_client):
    clear = TOKEN_RE.search(_issue(root_client).content.decode()).group(0)
    assert ApiToken.find(clear) is not None


def test_token_form_explains_what_is_wrong(root_client):
    response = _issue(root_client, name="", scopes=[], lifetime_days="-1")
    errors = response.context["adminform"].form.errors
    assert {"name", "scopes", "lifetime_days"} <= set(errors)
    assert not ApiToken.objects.exists()


def test_tokens_are_not_editable_or_deletable(root_client):
    _issue(root_client)
    token = ApiToken.objects.get()
    page = root_client.get(f"{TOKENS}{token.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    response = root_client.post(f"{TOKENS}{token.pk}/change/", {"name": "renamed"})
    assert response.status_code == 403
    assert root_client.get(f"{TOKENS}{token.pk}/delete/").status_code == 403
    assert ApiToken.objects.get().name == "HR sync"


def test_list_columns_and_status_filter(root_client):
    _issue(root_client)
    page = root_client.get(TOKENS).content.decode()
    for header in ("Name", "Token id", "Owner", "Scopes", "Status", "Created", "Expires",
                   "Last used"):
        assert header in page, header
    assert len(root_client.get(TOKENS, {"status": "active"}).context["cl"].result_list) == 1
    assert len(root_client.get(TOKENS, {"status": "revoked"}).context["cl"].result_list) == 0


def test_revoke_action_is_audited(root_client):
    clear = TOKEN_RE.search(_issue(root_client).content.decode()).group(0)
    token = ApiToken.objects.get()
    response = root_client.post(TOKENS, {"action": "revoke_tokens",
                                         "_selected_action": [token.pk]}, follow=True)
    assert "Revoked 1 token. They stop working at once." in messages_of(response)
    token.refresh_from_db()
    assert token.status == "revoked"
    assert ApiToken.find(clear) is None
    assert Event.objects.filter(action="api_token.revoke", target_id=str(token.pk)).count() == 1


def test_a_token_never_carries_more_than_its_issuer(client_as):
    client, me = client_as("Security administrator")
    form = client.get(TOKENS + "add/").context["adminform"].form
    # The role can view users (to reach the unlock link), read the audit log and manage policy.
    assert [value for value, _ in form.fields["scopes"].choices] == [
        "users:read", "events:read", "policy:read", "policy:write"]
    response = _issue(client, scopes=["admin"])
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiToken.objects.exists()
    response = _issue(client, scopes=["events:read"])
    assert ApiToken.objects.get().owner == me


def test_helpdesk_cannot_issue_tokens(client_as):
    client, _ = client_as("Helpdesk")
    assert client.get(TOKENS + "add/").status_code == 403
