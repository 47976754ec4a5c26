"""/api/v1/events: the audit log, read-only."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from keystead.api.auth import ScopedToken
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS
from keystead.api.schemas import EventOut, Instant, ShortText
from keystead.directory.models import Event, Outcome

router = Router(tags=["events"])


class EventFilter(Schema):
    since: Instant | None = None
    until: Instant | None = None
    action: ShortText | None = None
    outcome: Outcome | None = None
    actor: ShortText | None = None
    target_type: ShortText | None = None
    target_id: ShortText | None = None


@router.get("/events", response={200: list[EventOut], **ERRORS}, auth=ScopedToken("events:read"))
@paginate(Pages)
def list_events(request: HttpRequest, filters: Query[EventFilter]):
    """Newest first. `action` matches a prefix, so `user.` finds every user event."""
    events = Event.objects.all()
    if filters.since:
        events = events.filter(created_at__gte=filters.since)
    if filters.until:
        events = events.filter(created_at__lt=filters.until)
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.actor:
        events = events.filter(actor_label__icontains=filters.actor)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    return events
