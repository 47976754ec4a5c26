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

BIND_PASSWORD_ENV = "KEYSTEAD_LDAP_BIND_PASSWORD"
USER_PASSWORD_ENV = "KEYSTEAD_LDAP_USER_PASSWORD"
DEFAULT_PORTS = {"plain": 389, "starttls": 389, "ldaps": 636}


@click.group()
def ldap() -> None:
    """LDAP and Active Directory sign-in sources."""


def _password(env_name: str, prompt: str) -> str:
    value = os.environ.get(env_name)
    if value is not None:
        return value
    return click.prompt(prompt, hide_input=True, default="", show_default=False)


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
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=5.0, show_default=True,
              help="Seconds to wait for a connection.")
def test(host: str, port: int | None, method: str, ca_file: Path | None, base_dn: str,
         user_key: str, bind_dn: str, username: str | None, timeout: float) -> None:
    """Check a connection step by step and print which step failed and why.

    \b
    Examples:
      keystead ldap test --host ldap.example.org --method ldaps --ca-file ca.pem \\
          --base-dn dc=example,dc=org --bind-dn cn=keystead,dc=example,dc=org
      KEYSTEAD_LDAP_USER_PASSWORD=... keystead ldap test --host dc1.example.org \\
          --base-dn dc=example,dc=org --user-key sAMAccountName --username ada
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
    steps = check_connection(settings, username=username, password=user_password)
    out = Console(highlight=False, soft_wrap=True)
    for step in steps:
        mark = "[green]ok[/green]  " if step.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {step.name}: ", end="")
        out.print(step.message, markup=False)
    if not steps[-1].ok:
        raise SystemExit(1)
    out.print("All steps passed.")
