"""``keystead serve``: gunicorn in production, Django's autoreloading server with ``--dev``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import click

from keystead.cli._common import InputError, setup_django
from keystead.cli.check import is_loopback
from keystead.logs import gunicorn_logger_class

MAX_DEFAULT_WORKERS = 12


@dataclass(frozen=True)
class Bind:
    """Where to listen: a TCP host and port, or a Unix socket path (gunicorn only)."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @property
    def address(self) -> str:
        """As gunicorn and runserver take it: ``host:port``, ``[v6]:port`` or ``unix:path``."""
        if self.unix_path:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"http://{self.address}/"


def parse_bind(text: str) -> Bind:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``unix:/path``; raises ValueError saying which form."""
    text = text.strip()
    if text.startswith("unix:"):
        path = text.removeprefix("unix:")
        if not path:
            raise ValueError("unix: needs a socket path, e.g. unix:/run/keystead/web.sock")
        return Bind(unix_path=path)
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            f"{text!r} is not HOST:PORT; write e.g. 127.0.0.1:8000, 0.0.0.0:8000, "
            "[::1]:8000 or unix:/run/keystead/web.sock"
        )
    return Bind(host=host, port=int(port))


def default_workers() -> int:
    """2 x usable cores + 1, the gunicorn rule of thumb, capped at MAX_DEFAULT_WORKERS.

    Counts the cores this process may run on (a container's CPU set), not the
    host's. Sign-ins are CPU-bound (argon2), so many more workers than that
    add memory, not throughput.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(2 * cores + 1, MAX_DEFAULT_WORKERS)


def _bind_option(ctx: click.Context, param: click.Parameter, value: str) -> Bind:
    try:
        return parse_bind(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--bind", default="127.0.0.1:8000", show_default=True, envvar="KEYSTEAD_BIND",
    show_envvar=True, callback=_bind_option, metavar="HOST:PORT",
    help="Address to listen on: HOST:PORT, [IPv6]:PORT, or unix:/path (not with --dev).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), envvar="KEYSTEAD_WORKERS", show_envvar=True,
    help=f"Worker processes. Default: 2 x CPU cores + 1, at most {MAX_DEFAULT_WORKERS} "
    f"(here: {default_workers()}).",
)
@click.option(
    "--dev", is_flag=True,
    help="Development server: Django's runserver, reloads on code changes; "
    "on a loopback address it turns on KEYSTEAD_DEBUG unless set. Never for production.",
)
def serve(bind: Bind, workers: int | None, dev: bool) -> None:
    """Serve Keystead over HTTP (gunicorn; --dev for development).

    The web pages, the REST API, SCIM and the identity provider. Without
    --dev this runs gunicorn with several worker processes, the access log on
    stdout and a graceful stop on SIGTERM (in-flight requests finish). Put a
    TLS-terminating proxy in front and set KEYSTEAD_BASE_URL to its https://
    address.

    \b
    Examples:
      keystead serve
      keystead serve --bind 0.0.0.0:8000 --workers 4
      keystead serve --dev
    """
    if dev:
        _run_dev(bind, workers)
    else:
        _run_gunicorn(bind, workers or default_workers())


def _run_dev(bind: Bind, workers: int | None) -> None:
    """Django's runserver with its autoreloader (it re-runs this same command on changes)."""
    if bind.unix_path:
        raise InputError("--dev cannot listen on a Unix socket; give --bind HOST:PORT.")
    if workers:
        click.echo("Note: --workers is ignored with --dev (one process).", err=True)
    if is_loopback(bind.host):  # debug pages only where nobody else can reach them
        os.environ.setdefault("KEYSTEAD_DEBUG", "true")
    setup_django()
    from django.core.management import call_command

    if os.environ.get("RUN_MAIN") != "true":  # the reloader's parent, not each restart
        click.echo(f"Keystead development server on {bind.url} (reloads on code changes)")
    call_command("runserver", bind.address, use_reloader=True)


def gunicorn_options(bind: Bind, workers: int) -> dict[str, Any]:
    """The gunicorn settings ``keystead serve`` uses, each for a stated reason."""
    return {
        "bind": [bind.address],
        "workers": workers,
        "proc_name": "keystead",
        # Access log on stdout and errors on stderr, where containers and systemd collect them.
        "accesslog": "-",
        "errorlog": "-",
        # The same redaction as every other log line (a reset link's path is a credential).
        "logger_class": gunicorn_logger_class,
        # A stuck worker is replaced after `timeout`; on SIGTERM, requests in flight
        # (a sign-in, a SCIM batch) get `graceful_timeout` to finish.
        "timeout": 60,
        "graceful_timeout": 30,
        # Load the app once in the master: a configuration error stops start-up with one
        # message instead of a worker boot loop, workers share memory copy-on-write, and
        # the first run's secret key is generated once, not raced by N workers.
        "preload_app": True,
        # gunicorn's sync worker with HTTP keep-alive (keystead.keepalive_worker): a
        # connection serves many requests, idle ones close after `keepalive` seconds.
        "worker_class": "keystead.keepalive_worker.KeepAliveWorker",
        "keepalive": 5,
        # The heartbeat file on tmpfs, so a slow disk cannot make workers look dead.
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108
    }


def _run_gunicorn(bind: Bind, workers: int) -> None:
    """Run gunicorn in this process through its Python API (BaseApplication).

    Chosen over exec'ing the ``gunicorn`` script because it needs no PATH or
    venv lookup (so ``python -m keystead serve`` works the same), the options
    are checked Python values rather than a quoted command line, and the
    settings are loaded here first so a configuration mistake is reported as a
    plain message before anything listens. This process becomes the gunicorn
    master, so signals (TERM graceful stop, HUP new workers, TTIN/TTOU worker
    count) behave exactly as documented for gunicorn.
    """
    setup_django()
    from django.conf import settings
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(bind, workers)

    def when_ready(server: Any) -> None:
        for listener in server.LISTENERS:
            where = str(listener)
            where += "/" if where.startswith("http") else ""
            click.echo(f"Keystead is serving on {where} (gunicorn, {workers} workers)")
        click.echo(f"Public address (KEYSTEAD_BASE_URL): {settings.BASE_URL}/")

    class KeysteadServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in {**options, "when_ready": when_ready}.items():
                if value is not None:
                    self.cfg.set(key, value)
            # gunicorn >= 25.1 opens a control socket in a per-user directory shared by all
            # instances; Keystead is managed by signals, so no extra socket is opened.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            from keystead.wsgi import application

            return application

    KeysteadServer().run()
