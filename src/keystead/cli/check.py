"""``keystead check``: is this installation configured safely, and does it work?

The checks the console's dashboard shares live in ``keystead.health_checks``;
the database, migration and Django system checks stay here, where a broken
installation is diagnosed from a shell.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from keystead.cli._common import InputError, describe_database, setup_django
from keystead.health_checks import (
    FAIL,
    OK,
    WARN,
    Finding,
    check_admins,
    check_backchannel_logouts,
    check_base_url,
    check_debug,
    check_housekeeping,
    check_mail,
    check_mail_outbox,
    check_password_screening,
    check_secret_key,
    is_loopback,
)

__all__ = ["FAIL", "OK", "WARN", "Finding", "check", "is_loopback", "run_checks"]

COLOURS = {OK: "green", WARN: "yellow", FAIL: "red"}


def check_database() -> Finding:
    from django.db import DatabaseError, connection

    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        return Finding(FAIL, "database", f"{describe_database()} does not answer: "
                       f"{str(exc).strip()}",
                       "check KEYSTEAD_DATABASE_URL and that the database server runs")
    return Finding(OK, "database", f"{describe_database()} answers")


def check_migrations() -> Finding:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:3])
        more = ", ..." if len(plan) > 3 else ""
        return Finding(FAIL, "migrations", f"{len(plan)} not applied ({names}{more})",
                       "run `keystead migrate`")
    return Finding(OK, "migrations", "all applied")


def check_django() -> Finding:
    from django.core import checks

    messages = checks.run_checks()
    serious = [m for m in messages if m.is_serious()]
    if serious:
        return Finding(FAIL, "system checks", "; ".join(str(m) for m in serious[:3]),
                       "see `keystead manage check`")
    if messages:
        return Finding(WARN, "system checks", "; ".join(str(m) for m in messages[:3]),
                       "see `keystead manage check`")
    return Finding(OK, "system checks", "no problems")


STANDALONE: list[Callable[[], Finding]] = [
    check_secret_key, check_base_url, check_mail, check_password_screening, check_debug,
    check_django, check_mail_outbox, check_backchannel_logouts, check_housekeeping,
]


def run_checks() -> list[Finding]:
    """Every finding, in a stable order; a check that cannot run yet says why."""
    findings = [check_database()]
    if findings[-1].status == OK:
        findings.append(check_migrations())
    if findings[-1].status == OK:
        findings.append(check_admins())
    else:
        findings.append(Finding(WARN, "administrators", "not checked until the database "
                                "answers and is migrated"))
    return findings + [check() for check in STANDALONE]


def show(finding: Finding) -> None:
    label = click.style(f"{finding.status:<4}", fg=COLOURS[finding.status], bold=True)
    click.echo(f"{label}  {finding.topic}: {finding.message}")
    if finding.fix:
        click.echo(f"      fix: {finding.fix}")


@click.command()
def check() -> None:
    """Check the configuration and report OK, WARN or FAIL with fixes.

    Looks at the database, migrations, the secret key, the base URL, mail,
    the password screening, administrators, debug mode, housekeeping and Django's
    system checks. Exit status 1 if anything FAILs, so it can gate a deployment.
    """
    try:
        setup_django()
    except InputError as exc:
        show(Finding(FAIL, "configuration", exc.message.removeprefix("Configuration error: "),
                     "correct the KEYSTEAD_* variable named above"))
        raise SystemExit(1) from None
    findings = run_checks()
    for finding in findings:
        show(finding)
    counts = {status: sum(f.status == status for f in findings) for status in (OK, WARN, FAIL)}
    click.echo(f"\n{counts[OK]} OK, {counts[WARN]} WARN, {counts[FAIL]} FAIL")
    if counts[FAIL]:
        raise SystemExit(1)
