"""``keystead mail``: the outbox of mail waiting to be sent, and mail that could not be.

Web processes deliver mail in a background thread (``keystead.login.outbox``);
these commands are for an operator who wants to see the queue, and for cron
on an installation whose web processes are idle or stopped. Mail bodies are
never shown: they hold reset links and sign-in codes.
"""

from __future__ import annotations

import click

from keystead.cli._common import LIMIT, console, needs_django, table, when

SHOWN = ("queued", "sending", "failed")


@click.group()
def mail() -> None:
    """The mail outbox: what waits to be sent, and what could not be."""


@mail.command("send-pending")
@click.option("--limit", type=LIMIT, metavar="N",
              help="Try at most N mails in this run (default: all that are due).")
@needs_django
def send_pending(limit: int | None) -> None:
    """Deliver the mail that is due now, from this process.

    Safe beside running web processes and other copies of this command: each
    mail is claimed by one sender only. Mail waiting for a later retry is left
    for then. Exit status 1 if any attempt failed, so cron reports it.

    \b
    Example (crontab, every 5 minutes):
      */5 * * * * keystead mail send-pending
    """
    from keystead.login import outbox

    done = outbox.deliver_due(limit=limit)
    later = outbox.seconds_until_due()
    click.echo(f"sent {done.sent}, will retry {done.retrying}, gave up on {done.failed}")
    if later is not None and later > 0:
        click.echo(f"the next retry is due in {int(later) + 1} s")
    if done.retrying or done.failed:
        click.echo("see `keystead mail list` for the mail server's answers", err=True)
        raise SystemExit(1)


@mail.command("list")
@click.option("--all", "everything", is_flag=True, help="Also mail that was sent.")
@click.option("--limit", type=LIMIT, default=50, show_default=True,
              help="At most this many, newest first.")
@needs_django
def list_mail(everything: bool, limit: int) -> None:
    """List queued and failed mail, newest first (never the mail's text).

    \b
    Examples:
      keystead mail list
      keystead mail list --all --limit 200
    """
    from keystead.login.models import OutgoingMail

    rows = OutgoingMail.objects.all()
    if not everything:
        rows = rows.filter(status__in=SHOWN)
    rows = list(rows.order_by("-created_at", "-id")[:limit])
    if not rows:
        click.echo("No mail waiting and none failed." if not everything else "The outbox is empty.")
        return
    out = table("ID", "Status", "To", "Subject", "Attempts", "Queued", "Next attempt",
                "Last error")
    for row in rows:
        waiting = row.status in (OutgoingMail.Status.QUEUED, OutgoingMail.Status.SENDING)
        out.add_row(str(row.pk), row.status, row.recipient, row.subject, str(row.attempts),
                    when(row.created_at), when(row.next_attempt_at) if waiting else "—",
                    row.last_error or "—")
    console().print(out)
