"""``keystead device``: enrolment tokens for the endpoint agent."""

from __future__ import annotations

import click

from keystead.cli._common import InputError, needs_django


@click.group()
def device() -> None:
    """Computers running the endpoint agent (keystead-agent)."""


@device.command("token")
@click.option("--client-id", required=True,
              help="The OpenID Connect application the agent signs in as (password grant).")
@click.option("--mode", type=click.Choice(["store", "do-not-store"]), default="do-not-store",
              show_default=True, help="Whether the agent keeps the password encrypted.")
@click.option("--check-seconds", type=int, default=300, show_default=True,
              help="How often the agent checks for a changed Keystead password.")
@click.option("--hours", type=int, default=24, show_default=True,
              help="How long the token can be used (once).")
@click.option("--reset-url", default="", help="Shown after three wrong passwords. "
                                              "Default: this installation's /reset.")
@click.option("--login-name", type=click.Choice(["local", "email"]), default="local",
              show_default=True, help="local: the local account name is the Keystead user "
                                      "name; email: local name @ --email-domain.")
@click.option("--email-domain", default="")
@click.option("--label", default="", help="What the token is for, e.g. 'lab computers'.")
@needs_django
def token(client_id: str, mode: str, check_seconds: int, hours: int, reset_url: str,
          login_name: str, email_domain: str, label: str) -> None:
    """Make a one-use enrolment token. Its value is the last line, shown only now.

    \b
    Example:
      keystead device token --client-id AGENT_CLIENT --mode store
      keystead-agent enroll --server https://id.example.com --token -
      (then paste the token: read from standard input, it stays out of the process
      list and the shell's history)
    """
    from keystead.devices.services import EnrollmentRefused, TokenRequest, create_token
    from keystead.directory.authorization import OPERATOR

    wanted = TokenRequest(client_id=client_id, mode=mode, check_seconds=check_seconds,
                          hours=hours, reset_url=reset_url, login_name=login_name,
                          email_domain=email_domain, label=label)
    try:
        made, clear = create_token(wanted, actor=OPERATOR)
    except EnrollmentRefused as error:
        raise InputError(str(error)) from None
    click.echo(f"Enrolment token {made.pk}, one use, expires {made.expires_at:%Y-%m-%d %H:%M} "
               "UTC:", err=True)
    click.echo(clear.reveal())
