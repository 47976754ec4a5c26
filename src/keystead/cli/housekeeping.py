"""``keystead housekeeping``: remove expired sessions, tokens, codes and old mail now.

Every provisioning worker does this once an hour; the command is for an
installation without one, for cron, and for looking first with ``--dry-run``.
"""

from __future__ import annotations

import click

from keystead.cli._common import console, needs_django, table


@click.command()
@click.option("--dry-run", is_flag=True,
              help="Count what would be removed, and remove nothing.")
@needs_django
def housekeeping(dry_run: bool) -> None:
    """Remove expired sessions, tokens, sign-in codes, reset links and old mail.

    Prints, per kind of row, how many were removed (or, with --dry-run, would be).
    Audit events are kept unless KEYSTEAD_AUDIT_RETENTION_DAYS is set; outbox mail
    is kept KEYSTEAD_MAIL_RETENTION_DAYS (docs/configuration.md#housekeeping).
    Safe beside running workers and other runs of itself.
    """
    from keystead import housekeeping as chores

    pruned = chores.run(dry_run=dry_run)
    report = table("Kind", "Would be removed" if dry_run else "Removed")
    for item in pruned:
        report.add_row(item.kind, str(item.count))
    out = console()
    out.print(report)
    total = sum(item.count for item in pruned)
    out.print(f"{total} rows would be removed (dry run: nothing was removed)." if dry_run
              else f"{total} rows removed.")
