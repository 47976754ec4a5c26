"""``keystead events``: read the audit log from a terminal or a script."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from keystead.cli._common import console, needs_django, table
from keystead.cli.timespec import ACCEPTED_FORMS, TimespecError, parse_since

if TYPE_CHECKING:
    from keystead.directory.models import Event

OUTCOMES = ("success", "failure", "denied")


def _since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value, datetime.now(UTC))
    except TimespecError:
        raise click.BadParameter(f"{value!r} is not a time. Accepted: {ACCEPTED_FORMS}.") from None


def as_json(event: Event) -> dict[str, Any]:
    """One event as a JSON-ready dict, the shape of each ``--json`` line."""
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


@click.command()
@click.option("--since", callback=_since_option, metavar="WHEN",
              help="Only events from then on: 30m, 1h, 2d, 1w, 1h30m, or an ISO date/time "
                   "such as 2025-05-01 or 2025-05-01T08:00 (UTC).")
@click.option("--action", help="Exact action, e.g. login; or a prefix ending in *, e.g. 'user.*'.")
@click.option("--actor", metavar="EMAIL", help="Who acted (email, or a label such as system).")
@click.option("--outcome", type=click.Choice(OUTCOMES))
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many, newest first.")
@click.option("--json", "as_lines", is_flag=True,
              help="One JSON object per line instead of a table.")
@needs_django
def events(since: datetime | None, action: str | None, actor: str | None, outcome: str | None,
           limit: int, as_lines: bool) -> None:
    """List audit events, newest first (table or JSON lines).

    Every security decision is an event: sign-ins, password changes, token
    use, changes made by administrators.

    \b
    Examples:
      keystead events --since 1h
      keystead events --action login --outcome failure --since 2d
      keystead events --actor ada@example.com --action 'user.*'
      keystead events --since 2025-05-01 --json --limit 10000 > audit.jsonl
    """
    from django.db.models import Q

    from keystead.directory.models import Event

    query = Event.objects.all()
    if since is not None:
        query = query.filter(created_at__gte=since)
    if action:
        query = (query.filter(action__startswith=action[:-1]) if action.endswith("*")
                 else query.filter(action=action))
    if actor:
        query = query.filter(Q(actor__email__iexact=actor.strip()) |
                             Q(actor_label__iexact=actor.strip()))
    if outcome:
        query = query.filter(outcome=outcome)
    found = list(query.order_by("-created_at", "-id")[:limit])
    if as_lines:
        for event in found:
            click.echo(json.dumps(as_json(event), ensure_ascii=False))
        return
    if not found:
        click.echo("No events match.", err=True)
        return
    _print_table(found, limit)


def _print_table(found: list[Event], limit: int) -> None:
    from rich.text import Text

    colours = {"success": "green", "failure": "red", "denied": "yellow"}
    grid = table("Time (UTC)", "Action", "Outcome", "Actor", "Target", "From", "Detail")
    for event in found:
        target = event.target_label or (f"{event.target_type} {event.target_id}".strip())
        detail = json.dumps(event.detail, ensure_ascii=False) if event.detail else ""
        grid.add_row(
            event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), event.action,
            Text(event.outcome, style=colours.get(event.outcome, "")),
            event.actor_label, target, event.client_ip or "", detail,
        )
    out = console()
    out.print(grid)
    if len(found) == limit:
        out.print(f"Showing the newest {limit}; use --limit or --since for more or fewer.")
