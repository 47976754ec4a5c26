"""How audit events leave Keystead: one JSON shape, CSV and JSON downloads, outcome words.

Every door shows an event the same way: the CLI's ``--json`` lines, the
console's JSON download and its CSV columns all come from ``as_dict``. A
download streams rows from a database cursor, so a hundred thousand events
never sit in memory, and it is itself audited (``audit.export``, with the
filter and the count) because the log is evidence and copying it is a
security decision.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from keystead.directory import audit
from keystead.directory.authorization import NotAllowed
from keystead.directory.models import Event, Outcome, User

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CSV_COLUMNS = ("id", "time", "action", "outcome", "actor", "target_type", "target_id",
               "target_label", "client_ip", "user_agent", "detail")
VIEW_PERMISSION = "directory.view_event"
# Refusals that are a step of a normal sign-in, not a warning sign: shown as what they are.
_ROUTINE_REFUSALS = {("login", "password change required")}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CHUNK = 2000  # rows fetched from the database cursor at a time
_BUFFER = 64 * 1024  # characters handed to the server at a time, not one write per row


def as_dict(event: Event) -> dict[str, Any]:
    """One event as a JSON-ready dict (times in UTC ISO 8601)."""
    return {
        "id": event.pk,
        "time": event.created_at.astimezone(UTC).isoformat(),
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor_label,
        "target": {"type": event.target_type, "id": event.target_id,
                   "label": event.target_label},
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }


def outcome_words(event: Event) -> tuple[str, str]:
    """How to show an event's outcome: ``(words, tone)``, tone one of ok, alert, notice.

    A first sign-in that must choose a new password is refused by design; it is
    shown as "password change required" in a neutral tone, not as a red denial.
    """
    detail = event.detail if isinstance(event.detail, dict) else {}
    if (event.outcome == Outcome.DENIED
            and (event.action, detail.get("reason")) in _ROUTINE_REFUSALS):
        return str(detail["reason"]), "notice"
    label = Outcome(event.outcome).label if event.outcome in Outcome.values else event.outcome
    return str(label), "ok" if event.outcome == Outcome.SUCCESS else "alert"


def spreadsheet_safe(text: str) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading '."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_row(event: Event) -> list[Any]:
    """One event as CSV cells in ``CSV_COLUMNS`` order; the detail as one JSON cell."""
    cells = [event.created_at.astimezone(UTC).isoformat(), event.action, event.outcome,
             event.actor_label, event.target_type, event.target_id, event.target_label,
             event.client_ip or "", event.user_agent,
             json.dumps(event.detail, ensure_ascii=False, sort_keys=True)]
    return [event.pk, *(spreadsheet_safe(str(cell)) for cell in cells)]


class _Line:
    """A file-like object whose ``write`` hands the line back, for csv.writer in a generator."""

    def write(self, text: str) -> str:
        return text


def csv_lines(events: Iterable[Event]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        yield writer.writerow(csv_row(event))


def json_chunks(events: Iterable[Event]) -> Iterator[str]:
    """A JSON array, one event per line, written as it is read."""
    yield "["
    separator = "\n"
    for event in events:
        yield separator + json.dumps(as_dict(event), ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def buffered(pieces: Iterable[str], size: int = _BUFFER) -> Iterator[str]:
    """The same text in pieces of about ``size`` characters."""
    batch: list[str] = []
    held = 0
    for piece in pieces:
        batch.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(batch)
            batch, held = [], 0
    if batch:
        yield "".join(batch)


def may_read(user: User | Any) -> bool:
    """Whether ``user`` reads the audit log: an active staff member who may view events.
    Wherever events are shown (the log, its export, a person's page), this decides."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False)
                and user.has_perm(VIEW_PERMISSION))


def require_reader(user: User | Any) -> None:
    """Only a reader of the log (``may_read``) exports it."""
    if not may_read(user):
        raise NotAllowed("Exporting the audit log needs console access and permission to view "
                         "events (an admin role such as Auditor).")


def export(request: HttpRequest, events: QuerySet[Event], fmt: str,
           filters: Mapping[str, str]) -> StreamingHttpResponse:
    """Stream ``events`` (already filtered and ordered) as a CSV or JSON download.

    The events are fixed when the export starts: those recorded later, the
    export's own ``audit.export`` among them, are not in it, so the audited
    count is the number of rows the file holds.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    require_reader(request.user)
    newest = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    events = events.filter(pk__lte=newest)
    count = events.count()
    audit.record("audit.export", request=request,
                 detail={"format": fmt, "count": count, "filter": dict(filters)})
    rows = events.iterator(chunk_size=_CHUNK)
    body = csv_lines(rows) if fmt == "csv" else json_chunks(rows)
    response = StreamingHttpResponse(buffered(body), content_type=FORMATS[fmt])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="keystead-events-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
