"""``keystead provision``: preview and reconcile a connected system's accounts.

``--preview`` reads Keystead's accounts on the target and lists what sending
them would create, change or delete, attribute by attribute; ``--reconcile``
reads every account on the target and lists those that differ or exist only
there; ``--apply`` (with ``--reconcile``) queues the fixes. Nothing is sent to
the target by this command: fixes go through the queue and the workers.
Passwords are never read or shown. What Keystead wants is what the system's
mapping gives each person now; ``--reconcile`` records its outcome on the
system, shown on the system's console page.
"""

from __future__ import annotations

import click

from keystead.cli._common import InputError, needs_django


@click.command()
@click.option("--system", "system_name", required=True, metavar="NAME",
              help="The connected system, by its name in the console.")
@click.option("--preview", "mode", flag_value="preview",
              help="List what would be created, changed or deleted; send nothing.")
@click.option("--reconcile", "mode", flag_value="reconcile",
              help="Read every account on the target; list those that differ or exist only "
                   "there.")
@click.option("--apply", "apply_fixes", is_flag=True,
              help="With --reconcile: queue the fixes (creates and changes).")
@click.option("--delete-only-on-target", is_flag=True,
              help="With --reconcile --apply: also queue deletes for accounts that exist "
                   "only on the target.")
@click.option("--all", "show_all", is_flag=True, help="List unchanged accounts too.")
@needs_django
def provision(system_name: str, mode: str | None, apply_fixes: bool,
              delete_only_on_target: bool, show_all: bool) -> None:
    """Preview or reconcile the accounts of one connected system.

    \b
    Examples:
      keystead provision --system corp-ldap --preview
      keystead provision --system corp-ldap --reconcile
      keystead provision --system corp-ldap --reconcile --apply
    """
    from rich.console import Console

    from keystead.provisioning import reconcile
    from keystead.provisioning.connectors import ConnectorError
    from keystead.provisioning.mapping import MappingError
    from keystead.provisioning.models import System

    if mode is None:
        raise InputError("Say what to do: --preview or --reconcile.")
    if apply_fixes and mode != "reconcile":
        raise InputError("--apply works with --reconcile; run --preview to look first.")
    if delete_only_on_target and not apply_fixes:
        raise InputError("--delete-only-on-target needs --reconcile --apply.")
    system = System.objects.filter(name=system_name).first()
    if system is None:
        names = ", ".join(System.objects.values_list("name", flat=True)) or "none yet"
        raise InputError(f"--system: no system named {system_name!r} (systems: {names}).")
    console = Console()
    try:
        report = _run(console, system, mode)
    except ConnectorError as exc:
        raise click.ClickException(f"System {system.name!r}: {exc}") from exc
    except MappingError as exc:
        raise click.ClickException(f"{exc} Fix the mapping on the system's console page, "
                                   "then run this again.") from None
    _print(console, report, show_all=show_all)
    if apply_fixes:
        queued = reconcile.apply(report, system, delete_only_on_target=delete_only_on_target)
        console.print(f"Queued {queued} operation{'s' if queued != 1 else ''}; "
                      "`keystead worker` sends them.")
        if report.changed_meanwhile:
            console.print(f"Left out {len(report.changed_meanwhile)} fix(es) for accounts "
                          "Keystead changed during the scan "
                          f"({', '.join(report.changed_meanwhile[:10])}); run the "
                          "reconciliation again for them.")


def _run(console, system, mode: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from keystead.provisioning import reconcile

    wanted = list(reconcile.wanted_accounts(system))
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        label = "Reading accounts" if mode == "preview" else "Reading the target"
        task = bar.add_task(f"{label} on {system.name}",
                            total=len(wanted) if mode == "preview" else None)

        def advance(step: int) -> None:
            bar.advance(task, step)

        run = reconcile.preview if mode == "preview" else reconcile.reconcile
        return run(system, source=lambda _: wanted, progress=advance)


def _print(console, report, *, show_all: bool) -> None:
    from rich.table import Table

    from keystead.provisioning import reconcile

    table = Table(title=f"{report.system}: accounts", show_lines=False)
    for column in ("account", "action", "attribute", "on the target", "Keystead wants"):
        table.add_column(column)
    for finding in report.findings:
        if finding.action == reconcile.SAME and not show_all:
            continue
        table.add_row(finding.name, finding.action, "", "", "")
        for difference in finding.differences:
            table.add_row("", "", difference.attribute, ", ".join(difference.target),
                          ", ".join(difference.wanted))
        if finding.password_pending:
            table.add_row("", "", "password", "", "would be set")
    console.print(table)
    summary = ", ".join(f"{report.count(action)} {word}" for action, word in (
        (reconcile.CREATE, "to create"), (reconcile.CHANGE, "to change"),
        (reconcile.DELETE, "to delete"), (reconcile.ONLY_ON_TARGET, "only on the target"),
        (reconcile.SAME, "unchanged")))
    console.print(summary)
