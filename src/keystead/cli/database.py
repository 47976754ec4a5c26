"""``keystead migrate`` and ``keystead manage``: the database schema and Django's own commands."""

from __future__ import annotations

from collections import Counter

import click

from keystead.cli._common import describe_database, needs_django, setup_django


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="List each migration as it is applied.")
@needs_django
def migrate(verbose: bool) -> None:
    """Create or upgrade the database schema. Safe to run at every start.

    Prints the database it works on and a one-line summary; with nothing to
    do it says so and changes nothing.
    """
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    click.echo(f"Database: {describe_database()}")
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        click.echo("The schema is up to date; no migrations to apply.")
        return
    per_app = Counter(migration.app_label for migration, _backwards in plan)
    click.echo(f"Applying {len(plan)} migrations...")
    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)
    summary = ", ".join(f"{app} {count}" for app, count in sorted(per_app.items()))
    click.echo(f"Applied {len(plan)} migrations ({summary}).")


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Run a Django management command with Keystead's settings.

    Everything after `manage` goes to Django unchanged, including --help
    after the command name.

    \b
    Examples:
      keystead manage help                 # list every command
      keystead manage showmigrations
      keystead manage shell
      keystead manage dbshell
    """
    setup_django()
    from django.core.management import ManagementUtility

    ManagementUtility(["keystead manage", *args]).execute()
