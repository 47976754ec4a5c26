"""The audit log in the console: searchable, filterable and read-only for everyone."""

from __future__ import annotations

import pytest

from keystead.directory import audit
from keystead.directory.models import Event, Group, Outcome

pytestmark = pytest.mark.django_db
EVENTS = "/admin/directory/event/"


@pytest.fixture
def events(admin_user):
    first = audit.record("login", actor=admin_user, target=admin_user,
                         detail={"method": "password", "nested": {"ok": True}})
    second = audit.record("login", actor_label="anonymous", outcome=Outcome.FAILURE,
                          detail={"username": "mallory@example.com"})
    third = audit.record("group.create", actor=admin_user,
                         target=Group.objects.create(name="Engineering"), detail={"door": "api"})
    return first, second, third


def _results(client, **params):
    return list(client.get(EVENTS, params).context["cl"].result_list)


def test_list_columns(root_client, events):
    page = root_client.get(EVENTS).content.decode()
    for header in ("Time", "Action", "Outcome", "Actor", "Target", "Client IP"):
        assert header in page, header


def test_filters_and_search(root_client, events):
    first, second, third = events
    assert _results(root_client, outcome__exact="failure") == [second]
    assert {e.pk for e in _results(root_client, action="login")} == {first.pk, second.pk}
    assert _results(root_client, target_type="user") == [first]
    assert _results(root_client, q="anonymous") == [second]
    assert _results(root_client, q="group.create") == [third]
    day = first.created_at
    assert len(_results(root_client, created_at__year=day.year, created_at__month=day.month,
                        created_at__day=day.day)) == 3


def test_event_log_is_read_only_even_for_superusers(root_client, events):
    first = events[0]
    changelist = root_client.get(EVENTS)
    assert EVENTS + "add/" not in changelist.content.decode()
    assert changelist.context["action_form"] is None  # no bulk delete
    assert root_client.get(EVENTS + "add/").status_code == 403
    assert root_client.post(EVENTS + "add/", {"action": "forged"}).status_code == 403
    assert root_client.post(f"{EVENTS}{first.pk}/change/", {"action": "edited"}).status_code == 403
    assert root_client.get(f"{EVENTS}{first.pk}/delete/").status_code == 403
    assert root_client.post(f"{EVENTS}{first.pk}/delete/", {"post": "yes"}).status_code == 403
    first.refresh_from_db()
    assert first.action == "login"
    assert Event.objects.count() == 3


def test_detail_page_shows_pretty_json(root_client, events):
    page = root_client.get(f"{EVENTS}{events[0].pk}/change/").content.decode()
    assert '<pre class="ks-json">{\n  &quot;method&quot;: &quot;password&quot;,' in page
    assert 'name="_save"' not in page
