"""The ``keystead`` command: run, set up and look after a Keystead installation.

One module per command group. Every module imports only click at import
time; Django, rich and granian are imported inside the commands that use
them, so ``keystead --help`` is fast and works even when the configuration
or the database is broken.
"""

from __future__ import annotations

import platform

import click

from keystead import __version__
from keystead.cli.admin import createadmin
from keystead.cli.check import check
from keystead.cli.database import manage, migrate
from keystead.cli.events import events
from keystead.cli.housekeeping import housekeeping
from keystead.cli.ldap import ldap
from keystead.cli.mail import mail
from keystead.cli.oidc import oidc
from keystead.cli.password_filter import password_filter
from keystead.cli.policy import policy
from keystead.cli.provision import provision
from keystead.cli.serve import serve
from keystead.cli.tokens import token
from keystead.cli.users import user
from keystead.cli.worker import worker
from keystead.devices.cli import device

__all__ = ["main"]


class _InOrder(click.Group):
    """Lists commands in the order an operator meets them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_InOrder,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="keystead")
def main() -> None:
    """Keystead: self-hosted identity and password platform.

    Configuration comes from KEYSTEAD_* environment variables (database,
    base URL, mail, secret key); `keystead check` reviews them.

    \b
    First start:
      keystead migrate
      keystead createadmin --if-none
      keystead serve --bind 127.0.0.1:8000
    """


@main.command()
def version() -> None:
    """Print the Keystead, Python and Django versions."""
    import django

    click.echo(f"keystead {__version__} (Python {platform.python_version()}, "
               f"Django {django.get_version()})")


for command in (serve, migrate, manage, createadmin, token, user, policy, events, oidc,
                check):
    main.add_command(command)
main.add_command(password_filter)
main.add_command(mail)
main.add_command(ldap)
main.add_command(worker)
main.add_command(housekeeping)
main.add_command(provision)
main.add_command(device)
