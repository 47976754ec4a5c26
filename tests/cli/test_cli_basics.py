"""The command as a whole: help everywhere, version, lazy start-up, pure helpers."""

import subprocess
import sys
from pathlib import Path

import click
import pytest

from keystead import __version__
from keystead.cli import main
from keystead.cli.admin import PASSWORD_ALPHABET, generate_password
from keystead.cli.serve import (
    MAX_DEFAULT_WORKERS,
    Bind,
    default_workers,
    granian_options,
    parse_bind,
)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *all_commands(main)], ids=" ".join)
def test_every_command_has_help(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    description = result.stdout.split("Options:")[0].split("\n", 2)[-1].strip()
    assert len(description) > 20


def test_commands_listed(cli):
    out = cli("--help").stdout
    for name in ("serve", "migrate", "manage", "createadmin", "token", "user", "events",
                 "check", "version"):
        assert f"  {name} " in out


def test_version(cli):
    result = cli("version")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"keystead {__version__} (Python ")
    assert cli("--version").stdout.strip() == f"keystead, version {__version__}"


def test_importing_the_command_starts_nothing_heavy():
    """`keystead --help` stays fast: Django, rich and granian load only inside commands."""
    code = (
        "import sys; from keystead.cli import main\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'django', 'rich', 'granian'})\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == ""


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "keystead", "version"], capture_output=True,
                          text=True, check=True, timeout=60)
    assert done.stdout.startswith(f"keystead {__version__}")


@pytest.mark.parametrize(
    ("text", "bind", "url"),
    [
        ("127.0.0.1:8000", Bind("127.0.0.1", 8000), "http://127.0.0.1:8000/"),
        ("0.0.0.0:80", Bind("0.0.0.0", 80), "http://0.0.0.0:80/"),
        ("localhost:8443", Bind("localhost", 8443), "http://localhost:8443/"),
        ("[::1]:8000", Bind("::1", 8000), "http://[::1]:8000/"),
        ("unix:/run/keystead.sock", Bind(unix_path="/run/keystead.sock"),
         "unix:/run/keystead.sock"),
    ],
)
def test_parse_bind(text, bind, url):
    assert parse_bind(text) == bind
    assert parse_bind(text).url == url


@pytest.mark.parametrize("text", ["8000", ":8000", "host:", "host:http", "host:70000", "unix:"])
def test_parse_bind_rejects(text):
    with pytest.raises(ValueError, match=r"e\.g\."):
        parse_bind(text)


def test_bad_bind_exits_2(cli):
    result = cli("serve", "--bind", "localhost")
    assert result.exit_code == 2
    assert "--bind" in result.output and "HOST:PORT" in result.output


def test_default_workers_is_bounded():
    assert 1 <= default_workers() <= MAX_DEFAULT_WORKERS


def test_granian_options():
    options = granian_options(Bind("127.0.0.1", 9000), 3)
    assert (options["address"], options["port"], options["workers"]) == ("127.0.0.1", 9000, 3)
    assert options["interface"] == "wsgi"
    assert options["log_access"] is True
    assert options["workers_kill_timeout"] > 0
    assert granian_options(Bind(unix_path="/run/k.sock"), 1)["uds"] == Path("/run/k.sock")


def test_generated_passwords_are_strong_and_distinct():
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        assert len(password) == 27
        assert set(password) <= set(PASSWORD_ALPHABET) | {"-"}
        assert any(c.islower() for c in password) and any(c.isupper() for c in password)
        assert any(c.isdigit() for c in password)


@pytest.mark.django_db
def test_migrate_on_a_current_schema_changes_nothing(cli):
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    assert "Database: PostgreSQL" in result.stdout or "Database: SQLite" in result.stdout
    assert "no migrations to apply" in result.stdout


@pytest.mark.django_db
def test_manage_passes_arguments_to_django(cli):
    result = cli("manage", "showmigrations", "directory")
    assert result.exit_code == 0, result.output
    assert "[X] 0001_initial" in result.stdout
