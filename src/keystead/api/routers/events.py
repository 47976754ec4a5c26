"""/api/v1/events: the audit log, read-only.

The query parameters are ``event_filters.EventCriteria``'s fields, so they mean
what the console's filter box and ``keystead events`` mean; a bad one is a 400
naming it (an ``EventFilterError`` is a ``RuleViolation``).
"""

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from keystead.api.auth import ScopedToken
from keystead.api.pagination import Pages
from keystead.api.routers.common import ERRORS
from keystead.api.schemas import EventOut, Instant, ShortText
from keystead.directory.event_filters import EventCriteria
from keystead.directory.models import Event, Outcome

router = Router(tags=["events"])


class EventFilter(Schema):
    since: Instant | None = Field(None, description="From this time on (inclusive).")
    until: Instant | None = Field(None, description="Before this time (exclusive).")
    person: ShortText | None = Field(
        None, description="Events about or by this person: email or user name.")
    actor: ShortText | None = Field(
        None, description="Who acted: an email or user name, or a label such as `system`.")
    action: ShortText | None = Field(
        None, description="Exact (`login`), or a prefix ending in `.` or `*` (`user.`).")
    outcome: Outcome | None = None
    client: ShortText | None = Field(
        None, description="A client IP address, or a network such as `10.0.0.0/8`.")
    target_type: ShortText | None = None
    target_id: ShortText | None = None


@router.get("/events", response={200: list[EventOut], **ERRORS}, auth=ScopedToken("events:read"))
@paginate(Pages)
def list_events(request: HttpRequest, filters: Query[EventFilter]):
    """Newest first. `action=user.` finds every user event; `client` takes a network."""
    criteria = EventCriteria(**{name: value for name, value in filters.dict().items()
                                if value is not None})
    return criteria.apply(Event.objects.all())
