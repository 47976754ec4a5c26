"""A refusal that reaches Django leaves one audit event, named after the door it came
through, unless the service that refused recorded its own for good."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import resolve

from keystead.directory.authorization import NotAllowed
from keystead.directory.models import Event, Outcome
from keystead.directory.refusal_middleware import RefusalAuditMiddleware

pytestmark = pytest.mark.django_db


def _refused_at(path: str, refusal: Exception) -> None:
    request = RequestFactory().post(path)
    request.resolver_match = resolve(path)
    middleware = RefusalAuditMiddleware(lambda request: HttpResponse())
    assert middleware.process_exception(request, refusal) is None  # Django answers 403


PORTAL_PAGE = "/account/sessions/end-others"


def test_each_door_names_its_refusal_and_a_recorded_one_is_not_recorded_twice():
    _refused_at("/admin/directory/user/", NotAllowed("may not change people"))
    _refused_at(PORTAL_PAGE, NotAllowed("You may not sign people out everywhere."))
    _refused_at(PORTAL_PAGE, NotAllowed("already recorded", audited=True))
    _refused_at(PORTAL_PAGE, ValueError("not a refusal"))
    events = Event.objects.order_by("id")
    assert [(e.action, e.outcome, e.detail["path"], e.detail["reason"]) for e in events] == [
        ("console.refused", Outcome.DENIED, "/admin/directory/user/", "may not change people"),
        ("portal.refused", Outcome.DENIED, PORTAL_PAGE, "You may not sign people out everywhere."),
    ]
