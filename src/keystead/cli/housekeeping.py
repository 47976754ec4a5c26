"""``keystead housekeeping``: remove expired sessions, tokens, codes, old mail and old
archived provisioning operations now, or show the installation's latest run.

The provisioning workers run it once an hour for the whole installation; the
command is for an installation without one, for cron, for looking first with
``--dry-run``, and for seeing when it last ran with ``--status``.
"""

from __future__ import annotations

import click

from keystead.cli._common import console, needs_django, table


@click.command()
@click.option("--dry-run", is_flag=True,
              help="Count what would be removed, and remove nothing.")
@click.option("--status", is_flag=True,
              help="Show the installation's latest run (by a worker or this command) and "
                   "remove nothing.")
@needs_django
def housekeeping(dry_run: bool, status: bool) -> None:
    """Remove expired sessions, tokens, sign-in codes, reset links, old mail and old
    archived provisioning operations.

    Prints, per kind of row, how many were removed (or, with --dry-run, would be).
    Audit events are kept unless KEYSTEAD_AUDIT_RETENTION_DAYS is set; outbox mail
    is kept KEYSTEAD_MAIL_RETENTION_DAYS, archived provisioning operations
    KEYSTEAD_PROVISIONING_ARCHIVE_DAYS (docs/configuration.md#housekeeping).
    Safe beside running workers and other runs of itself; a real run is recorded as
    the installation's latest, so the workers' next one comes an hour later.
    """
    from keystead import housekeeping as chores
    from keystead.housekeeping import schedule

    if status:
        click.echo(f"Last housekeeping run: {chores.describe(schedule.last())}")
        return
    pruned = chores.run(dry_run=True) if dry_run else chores.run_on_demand()
    report = table("Kind", "Would be removed" if dry_run else "Removed")
    for item in pruned:
        report.add_row(item.kind, str(item.count))
    out = console()
    out.print(report)
    total = sum(item.count for item in pruned)
    out.print(f"{total} rows would be removed (dry run: nothing was removed)." if dry_run
              else f"{total} rows removed.")
