"""The audit log in the console: the filter box, readable events, read-only for everyone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Event, Group, Outcome, User

from .helpers import messages_of

pytestmark = pytest.mark.django_db
EVENTS = "/admin/directory/event/"


def _from(address: str):
    return RequestFactory().get("/", REMOTE_ADDR=address)


@pytest.fixture
def events(admin_user):
    first = audit.record("login", request=_from("10.0.0.5"), actor=admin_user, target=admin_user,
                         detail={"method": "password", "nested": {"ok": True}})
    second = audit.record("login", request=_from("203.0.113.9"), actor_label="anonymous",
                          outcome=Outcome.FAILURE, detail={"username": "mallory@example.com"})
    third = audit.record("group.create", actor=admin_user,
                         target=Group.objects.create(name="Engineering"), detail={"door": "api"})
    return first, second, third


def _results(browser, **params):
    response = browser.get(EVENTS, params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_list_reads_as_an_audit_log(root_client, events):
    page = root_client.get(EVENTS).content.decode()
    for header in ("Time", "Action", "Outcome", "Actor", "Target", "Client IP"):
        assert header in page, header
    assert "<h1>Audit log</h1>" in page
    assert "Select event to view" not in page
    for label in ("From", "Until", "Person", "Actor", "Action", "Outcome", "Client address"):
        assert f'">{label}' in page, label
    cells = re.findall(r'<td class="field-(actor_name|target|client)">(.*?)</td>', page)
    assert cells == [("actor_name", "root@example.com"), ("target", "Engineering"),
                     ("client", "-"),
                     ("actor_name", "anonymous"), ("target", "-"), ("client", "203.0.113.9"),
                     ("actor_name", "root@example.com"), ("target", "root@example.com"),
                     ("client", "10.0.0.5")]


def test_the_filter_box(root_client, events, make_user):
    first, second, third = events
    assert _results(root_client, outcome="failure") == [second]
    assert _results(root_client, action="login") == [second, first]
    assert _results(root_client, action="group.*") == [third]
    assert _results(root_client, person="root@example.com") == [third, first]
    assert _results(root_client, actor="anonymous") == [second]
    assert _results(root_client, client="10.0.0.0/8") == [first]
    assert _results(root_client, client="203.0.113.9") == [second]
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert _results(root_client, since="1d") == [third, second]
    assert _results(root_client, until="1d") == [first]
    assert _results(root_client, since="1d", person="root@example.com", action="group.") == [
        third]


def test_search_date_bar_and_target_type_still_work(root_client, events):
    first, second, third = events
    assert _results(root_client, q="anonymous") == [second]
    assert _results(root_client, q="group.create") == [third]
    assert _results(root_client, target_type="user") == [first]
    day = timezone.localtime(first.created_at)
    assert len(_results(root_client, created_at__year=day.year, created_at__month=day.month,
                        created_at__day=day.day)) == 3


def test_filters_stay_in_page_and_sort_links(root_client, admin_user):
    for n in range(55):
        audit.record("user.update", actor=admin_user, detail={"n": n})
    audit.record("login", actor=admin_user)
    response = root_client.get(EVENTS, {"action": "user.*", "person": "root@example.com"})
    changelist = response.context["cl"]
    assert changelist.result_count == 55
    page = response.content.decode()
    assert "?action=user.%2A&amp;p=2&amp;person=root%40example.com" in page
    second_page = _results(root_client, action="user.*", person="root@example.com", p=2)
    assert len(second_page) == 5 and {e.action for e in second_page} == {"user.update"}
    # The search box carries the criteria as hidden inputs, the filter box the other way round.
    assert '<input type="hidden" name="action" value="user.*">' in page
    searched = root_client.get(EVENTS, {"q": "root", "action": "login"}).content.decode()
    assert '<input type="hidden" name="q" value="root">' in searched


@pytest.mark.parametrize(("params", "label"), [
    ({"client": "10.0.0.999"}, "Client address"),
    ({"since": "yesterday"}, "From"),
    ({"until": "soon"}, "Until"),
    ({"outcome": "blocked"}, "Outcome"),
    ({"action": "*"}, "Action"),
    ({"since": "1h", "until": "2h"}, "Until"),
])
def test_a_bad_filter_is_named_and_matches_nothing(root_client, events, params, label):
    response = root_client.get(EVENTS, params)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    [message] = messages_of(response)
    assert message.startswith(f"This filter cannot be used. {label}")
    page = response.content.decode()
    assert 'class="errornote"' in page
    assert "Download CSV" not in page  # nothing to download from a filter that cannot be read


def test_a_first_sign_in_that_must_change_its_password_is_not_shown_as_denied(root_client, db):
    person = User.objects.create_user("new@example.com", "New", "Person", password="x" * 16,
                                      must_change_password=True)
    response = Client().post("/login/", {"username": "new@example.com", "password": "x" * 16})
    assert response.status_code in (200, 302)
    event = Event.objects.get(action="login", target_id=str(person.pk))
    assert event.outcome == Outcome.DENIED
    assert event.detail["reason"] == "password change required"
    locked = audit.record("login", actor=person, target=person, outcome=Outcome.DENIED,
                          detail={"reason": "account locked"})

    page = root_client.get(EVENTS).content.decode()
    assert '<span class="ks-outcome ks-notice">password change required</span>' in page
    assert page.count('<span class="ks-outcome ks-denied">Denied</span>') == 1
    detail = root_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert '<span class="ks-outcome ks-notice">password change required</span>' in detail
    assert locked.outcome == "denied"


def test_event_page_shows_the_detail_as_a_table(root_client, events):
    page = root_client.get(f"{EVENTS}{events[0].pk}/change/").content.decode()
    assert "<h1>Audit event: " in page
    assert "View event" not in page
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', page, re.S)
    assert rows == [("method", "password"),
                    ("nested", '<pre class="ks-json">{\n  &quot;ok&quot;: true\n}</pre>')]
    assert '<details><summary>As JSON</summary><pre class="ks-json">{\n  &quot;method' in page
    assert 'name="_save"' not in page


def test_event_detail_is_escaped(root_client, admin_user):
    event = audit.record("group.create", actor=admin_user,
                         detail={"<b>key</b>": "<script>alert(1)</script>"})
    page = root_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;key&lt;/b&gt;" in page


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


def test_only_readers_of_events_see_the_log(client_as, events):
    auditor, _ = client_as("Auditor", email="auditor@example.com")
    assert auditor.get(EVENTS, {"person": "root@example.com"}).status_code == 200
    nobody, _ = client_as(email="plain-staff@example.com")
    assert nobody.get(EVENTS).status_code == 403
    assert nobody.get(f"{EVENTS}{events[0].pk}/change/").status_code == 403
