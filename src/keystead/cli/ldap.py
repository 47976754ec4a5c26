"""``keystead ldap``: work with LDAP and Active Directory sign-in sources.

``keystead ldap test`` checks a connection step by step (DNS, TCP, TLS,
service bind, user search, user bind) before the settings are saved
anywhere, and says which step failed and how to fix it. Passwords are never
taken as command-line values, which would leave them in shell history and
the process list: they come from an environment variable or a hidden prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from keystead.cli._common import (
    STORABLE_TEXT,
    FiniteFloatRange,
    InputError,
    console,
    needs_django,
    table,
)

BIND_PASSWORD_ENV = "KEYSTEAD_LDAP_BIND_PASSWORD"
USER_PASSWORD_ENV = "KEYSTEAD_LDAP_USER_PASSWORD"
DEFAULT_PORTS = {"plain": 389, "starttls": 389, "ldaps": 636}


@click.group()
def ldap() -> None:
    """LDAP and Active Directory sign-in sources."""


def _password(env_name: str, prompt: str) -> str:
    value = os.environ.get(env_name)
    if value is None:
        return click.prompt(prompt, hide_input=True, default="", show_default=False,
                            type=STORABLE_TEXT)
    try:
        return STORABLE_TEXT.convert(value, None, None)
    except click.BadParameter as exc:
        raise InputError(f"{env_name}: {exc.message}") from None


@ldap.command("test")
@click.option("--host", required=True, help="Server name or address.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Server port (default 389, or 636 for ldaps).")
@click.option("--method", type=click.Choice(["plain", "ldaps", "starttls"]), default="starttls",
              show_default=True, help="Connection method; plain sends passwords in clear.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of the CA that issued the server's certificate.")
@click.option("--base-dn", required=True, help="Where people are searched, e.g. dc=example,dc=org.")
@click.option("--user-key", default="uid", show_default=True,
              help="Attribute that identifies a person: uid, mail, sAMAccountName...")
@click.option("--bind-dn", default="",
              help=f"Service account for the search; its password is read from "
                   f"{BIND_PASSWORD_ENV} or asked for. Anonymous when empty.")
@click.option("--username", help="A person to look up; their password is read from "
                                 f"{USER_PASSWORD_ENV} or asked for (empty skips the bind).")
@click.option("--timeout", type=FiniteFloatRange(0.1, 300), default=5.0, show_default=True,
              help="Seconds to wait for a connection.")
@click.option("--kind", type=click.Choice(["openldap", "active_directory"]), default="openldap",
              show_default=True, help="Server family: decides how a refused bind is read "
              "(Active Directory's sub-codes: locked, expired, must change...).")
def test(host: str, port: int | None, method: str, ca_file: Path | None, base_dn: str,
         user_key: str, bind_dn: str, username: str | None, timeout: float, kind: str) -> None:
    """Check a connection step by step and print which step failed and why.

    \b
    Examples:
      keystead ldap test --host ldap.example.org --method ldaps --ca-file ca.pem \\
          --base-dn dc=example,dc=org --bind-dn cn=keystead,dc=example,dc=org
      KEYSTEAD_LDAP_USER_PASSWORD=... keystead ldap test --host dc1.example.org \\
          --base-dn dc=example,dc=org --user-key sAMAccountName --username ada \\
          --kind active_directory
    """
    from rich.console import Console

    from keystead.secret import Secret
    from keystead.sources.ldap.connection import ConnectionSettings, Method, check_connection

    bind_password = None
    if bind_dn:
        bind_password = Secret(_password(BIND_PASSWORD_ENV, f"Password of {bind_dn}"))
    user_password = None
    if username:
        typed = _password(USER_PASSWORD_ENV, f"Password of {username} (empty to skip)")
        user_password = Secret(typed) if typed else None
    settings = ConnectionSettings(
        host=host, port=port or DEFAULT_PORTS[method], method=Method(method), base_dn=base_dn,
        user_key=user_key, ca_pem=ca_file.read_text() if ca_file else "", bind_dn=bind_dn,
        bind_password=bind_password, connect_timeout=timeout, operation_timeout=timeout * 2)
    steps = check_connection(settings, username=username, password=user_password, kind=kind)
    out = Console(highlight=False, soft_wrap=True)
    for step in steps:
        mark = "[green]ok[/green]  " if step.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {step.name}: ", end="")
        out.print(step.message, markup=False)
    if not steps[-1].ok:
        raise SystemExit(1)
    out.print("All steps passed.")


#: How often ``keystead ldap sync --every`` wakes up to see whether a pass is due.
WAKE_SECONDS = 60


def _sync_source(name: str | None):
    from keystead.sources.ldap.models import LdapSource

    if name:
        source = LdapSource.objects.filter(name=name).first()
        if source is None:
            known = ", ".join(LdapSource.objects.values_list("name", flat=True)) or "none"
            raise InputError(f"--source: no LDAP source is named {name!r} (sources: {known}).")
        return source
    source = LdapSource.active()
    if source is None:
        raise InputError("No LDAP source is enabled: enable one in the console, or name one "
                         "with --source.")
    return source


def _print_report(report) -> None:
    out = console()
    kind = "Full" if report.full else "Incremental"
    out.print(f"{kind} sync of {report.source}" + ("" if report.ok else " (stopped)"))
    counts = report.counts
    rows = [
        ("People seen", counts["seen"]),
        ("Created", counts["created"]),
        ("Linked (local people with the same email)", counts["linked"]),
        ("Updated", counts["updated"]),
        ("Unchanged", counts["unchanged"]),
        ("Disabled (gone from the directory)", counts["disabled"]),
        ("Enabled again (back in the directory)", counts["enabled"]),
        ("Refused", counts["refused"]),
        ("Groups seen", counts["groups_seen"]),
        ("Groups created", counts["groups_created"]),
        ("Groups updated", counts["groups_updated"]),
        ("Groups unchanged", counts["groups_unchanged"]),
        ("Groups emptied (gone from the directory)", counts["groups_emptied"]),
        ("Groups refused", counts["groups_refused"]),
    ]
    summary = table("", "Count")
    for label, value in rows:
        summary.add_row(label, str(value))
    out.print(summary)
    if report.refusals:
        refused = table("Refused entry", "Why")
        for refusal in report.refusals:
            refused.add_row(refusal.dn, refusal.reason)
        out.print(refused)
        more = counts["refused"] + counts["groups_refused"] - len(report.refusals)
        if more > 0:
            out.print(f"... and {more} more refused.")
    if report.linked_people:
        out.print("Linked to the directory: " + ", ".join(report.linked_people))
    for note in report.notes:
        out.print(f"Note: {note}")


def _run_pass(source, full: bool, *, show_progress: bool):
    """One pass with a progress display; the report, or None after printing why not."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from keystead.sources.ldap.sync import SyncAlreadyRunning, SyncFailed, run_sync

    out = console()
    try:
        if not show_progress:
            return run_sync(source, full=full)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.completed} entries seen"), console=out,
                      transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, seen: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(f"Reading {phase}", total=None)
                bar.update(tasks[phase], completed=seen)

            return run_sync(source, full=full, progress=progress)
    except SyncAlreadyRunning as exc:
        out.print(str(exc))
    except SyncFailed as exc:
        _print_report(exc.report)
        out.print(f"Error: the directory could not be read: {exc.report.error}")
    return None


@ldap.command("sync")
@click.option("--full", is_flag=True,
              help="Read every entry and disable people whose entries are gone (default: "
                   "only entries changed since the last pass).")
@click.option("--source", "source_name", metavar="NAME",
              help="The LDAP source to sync (default: the enabled one).")
@click.option("--every", is_flag=True,
              help="Keep running: an incremental pass every sync interval of the source and a "
                   "full pass once a day. For running as a service.")
@needs_django
def sync(full: bool, source_name: str | None, every: bool) -> None:
    """Import people and groups from an LDAP or Active Directory source.

    Prints what was created, updated, disabled (gone from the directory) and
    refused (and why). Exits with status 1 when the directory could not be read.

    \b
    Examples:
      keystead ldap sync --full
      keystead ldap sync --source "Head office"
      keystead ldap sync --every        # as a service; see docs/ldap-sync.md
    """
    if every:
        _sync_forever(full, source_name)
    else:
        _sync_once(full, source_name)


def _sync_once(full: bool, source_name: str | None) -> None:
    source = _sync_source(source_name)
    report = _run_pass(source, full, show_progress=True)
    if report is None:
        raise SystemExit(1)
    _print_report(report)


def _sync_forever(full: bool, source_name: str | None) -> None:
    import time

    from django.db import close_old_connections
    from django.utils import timezone

    from keystead.sources.ldap.models import Mode
    from keystead.sources.ldap.sync import due_pass

    source = _sync_source(source_name)
    if source.mode != Mode.SYNC or not source.sync_interval_minutes:
        raise InputError(f"The LDAP source {source.name!r} is not in sync mode or its sync "
                         "interval is 0: set both in the console first.")
    out = console()
    out.print(f"Syncing {source.name} every {source.sync_interval_minutes} minutes, fully "
              "once a day. Stop with Ctrl-C.")
    first = True
    while True:
        close_old_connections()  # a database restart between passes is not fatal
        source = _sync_source(source_name)  # settings may have changed in the console
        due = True if first and full else due_pass(source, timezone.now())
        first = False
        if due is not None:
            report = _run_pass(source, due, show_progress=False)
            if report is not None:
                counts = report.counts
                out.print(f"{'Full' if due else 'Incremental'} pass: {counts['seen']} seen, "
                          f"{counts['created']} created, {counts['updated']} updated, "
                          f"{counts['disabled']} disabled, {counts['refused']} refused.")
        time.sleep(WAKE_SECONDS)
