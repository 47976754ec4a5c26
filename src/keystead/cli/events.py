"""``keystead events``: read the audit log from a terminal or a script."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from keystead.cli._common import LIMIT, console, needs_django, table

if TYPE_CHECKING:
    from keystead.directory.models import Event

OUTCOMES = ("success", "failure", "denied")


@click.command()
@click.option("--since", metavar="WHEN",
              help="Only events from then on: 30m, 1h, 2d, 1w, 1h30m, or an ISO date/time "
                   "such as 2025-05-01 or 2025-05-01T08:00 (UTC).")
@click.option("--until", metavar="WHEN",
              help="Only events before then (not including it); the same forms as --since.")
@click.option("--person", metavar="NAME",
              help="Events about or by this person (email or user name).")
@click.option("--actor", metavar="NAME",
              help="Who acted: an email or user name, or a label such as system.")
@click.option("--action", help="Exact action, e.g. login; or a prefix ending in * or ., "
                               "e.g. 'user.*'.")
@click.option("--outcome", type=click.Choice(OUTCOMES))
@click.option("--client", metavar="ADDRESS",
              help="From this IP address, or from a network such as 10.0.0.0/8.")
@click.option("--limit", type=LIMIT, default=50, show_default=True,
              help="At most this many, newest first.")
@click.option("--json", "as_lines", is_flag=True,
              help="One JSON object per line instead of a table.")
@needs_django
def events(since: str | None, until: str | None, person: str | None, actor: str | None,
           action: str | None, outcome: str | None, client: str | None, limit: int,
           as_lines: bool) -> None:
    """List audit events, newest first (table or JSON lines).

    Every security decision is an event: sign-ins, password changes, token
    use, changes made by administrators. The filters mean what they mean in
    the console's audit log and in /api/v1/events.

    \b
    Examples:
      keystead events --since 1h
      keystead events --action login --outcome failure --since 2d
      keystead events --person ada@example.com --since 2025-05-01 --until 2025-06-01
      keystead events --actor ada@example.com --action 'user.*'
      keystead events --client 10.0.0.0/8 --outcome failure
      keystead events --since 2025-05-01 --json --limit 10000 > audit.jsonl
    """
    from keystead.directory.event_export import as_dict
    from keystead.directory.event_filters import EventFilterError, parse_criteria
    from keystead.directory.models import Event

    given = {"since": since, "until": until, "person": person, "actor": actor,
             "action": action, "outcome": outcome, "client": client}
    try:
        criteria = parse_criteria(given, datetime.now(UTC))
    except EventFilterError as exc:
        raise click.BadParameter(exc.message, param_hint=f"'--{exc.field}'") from None
    found = list(criteria.apply(Event.objects.all()).order_by("-created_at", "-id")[:limit])
    if as_lines:
        for event in found:
            click.echo(json.dumps(as_dict(event), ensure_ascii=False))
        return
    if not found:
        click.echo("No events match.", err=True)
        return
    _print_table(found, limit)


def _print_table(found: list[Event], limit: int) -> None:
    from rich.text import Text

    from keystead.directory.event_export import outcome_words

    colours = {"success": "green", "failure": "red", "denied": "yellow"}
    grid = table("Time (UTC)", "Action", "Outcome", "Actor", "Target", "From", "Detail")
    for event in found:
        target = event.target_label or (f"{event.target_type} {event.target_id}".strip())
        detail = json.dumps(event.detail, ensure_ascii=False) if event.detail else ""
        # As the console shows it: a routine refusal in words, without an alarm colour.
        words, tone = outcome_words(event)
        outcome = (Text(words) if tone == "notice"
                   else Text(event.outcome, style=colours.get(event.outcome, "")))
        grid.add_row(
            event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), event.action,
            outcome, event.actor_label, target, event.client_ip or "", detail,
        )
    out = console()
    out.print(grid)
    if len(found) == limit:
        out.print(f"Showing the newest {limit}; use --limit or --since for more or fewer.")
