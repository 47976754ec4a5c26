"""``keystead serve``: granian in production, Django's autoreloading server with ``--dev``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from keystead.cli._common import InputError, setup_django
from keystead.cli.check import is_loopback

MAX_DEFAULT_WORKERS = 12
THREADS = 4  # threads per worker process that run the application
KEEPALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this long
GRACEFUL_SECONDS = 30  # on SIGTERM, requests in flight get this long to finish


@dataclass(frozen=True)
class Bind:
    """Where to listen: a TCP host and port, or a Unix socket path (not with --dev)."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @property
    def address(self) -> str:
        """As runserver takes it and people read it: ``host:port``, ``[v6]:port`` or
        ``unix:path``."""
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
    """One worker process per usable core, at most MAX_DEFAULT_WORKERS.

    Counts the cores this process may run on (a container's CPU set), not the
    host's. Each worker runs THREADS requests at once, so a request waiting on
    PostgreSQL leaves its core to another; sign-ins are CPU-bound (argon2), so
    more processes than cores add memory, not throughput (and granian warns).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_DEFAULT_WORKERS)


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
    help=f"Worker processes, {THREADS} threads each. Default: one per CPU core, at most "
    f"{MAX_DEFAULT_WORKERS} (here: {default_workers()}).",
)
@click.option(
    "--dev", is_flag=True,
    help="Development server: Django's runserver, reloads on code changes; "
    "on a loopback address it turns on KEYSTEAD_DEBUG unless set. Never for production.",
)
@click.option(
    "--provisioning-worker/--no-provisioning-worker", "provisioning_worker", default=None,
    envvar="KEYSTEAD_SERVE_PROVISIONING_WORKER", show_envvar=True,
    help="Run one provisioning worker (`keystead worker`) beside the web workers. "
    "Default: on with the embedded SQLite database, off with PostgreSQL (run `keystead "
    "worker` processes of their own there; docs/scaling.md).",
)
def serve(bind: Bind, workers: int | None, dev: bool, provisioning_worker: bool | None) -> None:
    """Serve Keystead over HTTP (granian; --dev for development).

    The web pages, the REST API, SCIM and the identity provider. Without
    --dev this runs granian (a WSGI server written in Rust) with several
    worker processes, the access log on stdout and a graceful stop on SIGTERM
    (in-flight requests finish). Put a TLS-terminating proxy in front and set
    KEYSTEAD_BASE_URL to its https:// address.

    With the embedded SQLite database it also runs one provisioning worker,
    so queued operations reach the connected systems with no second command.

    \b
    Examples:
      keystead serve
      keystead serve --bind 0.0.0.0:8000 --workers 4
      keystead serve --dev
      keystead serve --no-provisioning-worker
    """
    if dev:
        _run_dev(bind, workers)
        return
    setup_django()
    with provisioning_beside(provisioning_worker):
        _run_granian(bind, workers or default_workers())


def wants_provisioning_worker(choice: bool | None) -> bool:
    """An explicit choice wins; otherwise one worker on SQLite (the embedded default),
    where only one may run and nobody would think to start it, and none on PostgreSQL,
    where workers are processes of their own that scale out (docs/scaling.md)."""
    if choice is not None:
        return choice
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@contextmanager
def provisioning_beside(choice: bool | None) -> Iterator[None]:
    """Run ``keystead worker`` as a child process while the block runs; stop it after.

    A process of its own, not a thread in granian's main process: granian forks
    the web workers from that process and owns its signals. The worker stops
    on SIGTERM after the operations in hand (those already sent), as it does alone; Ctrl-C in a
    terminal reaches both (same process group), and each stops gracefully.
    """
    if not wants_provisioning_worker(choice):
        yield
        return
    child = subprocess.Popen([sys.executable, "-m", "keystead", "worker", "--id",  # noqa: S603
                              f"serve:{os.getpid()}"])
    click.echo(f"Provisioning worker started (pid {child.pid}); "
               "--no-provisioning-worker turns it off.")
    try:
        yield
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=GRACEFUL_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


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


def granian_options(bind: Bind, workers: int, log_format: str = "human",
                    log_level: str = "INFO") -> dict[str, Any]:
    """The settings ``keystead serve`` runs granian with, each for a stated reason.

    Keyword arguments of granian's ``Granian`` server; its command line takes
    the same settings (``granian --help``).
    """
    from granian.http import HTTP1Settings

    from keystead.logs import granian_logging

    where: dict[str, Any] = ({"uds": Path(bind.unix_path)} if bind.unix_path
                             else {"address": bind.host, "port": bind.port})
    return {
        # A factory (called once in each worker): keystead.wsgi's application, loaded.
        "target": "keystead.cli.serve:worker_application",
        "factory": True,
        **where,
        "interface": "wsgi",
        "websockets": False,  # WSGI has none; granian would say so at every start
        "workers": workers,
        # Each worker runs the application in a few threads: while one request waits on
        # PostgreSQL, another uses the core. Connections are accepted, kept and parsed by
        # granian's own (Rust) threads: an idle connection, or one still sending its
        # headers, holds no Python thread (a request body is read by the thread that
        # runs the request, as it arrives).
        "blocking_threads": THREADS,
        # HTTP/1.1 keep-alive is on by default. The header-read timeout bounds both the
        # wait for a kept-alive connection's next request (it is closed after
        # KEEPALIVE_SECONDS idle) and a client that sends its headers slowly.
        "http1_settings": HTTP1Settings(header_read_timeout=KEEPALIVE_SECONDS * 1000),
        # Access log on stdout and granian's own lines on stderr, where containers and
        # systemd collect them, with the redaction of every other log line (a reset link's
        # path is a credential).
        "log_access": True,
        "log_level": log_level.lower(),
        "log_dictconfig": granian_logging(log_format, log_level),
        # On SIGTERM (and on HUP, which starts fresh workers) requests in flight get
        # GRACEFUL_SECONDS to finish; a worker still busy then is killed.
        "workers_kill_timeout": GRACEFUL_SECONDS,
        # A worker that dies (a crash in native code, the kernel's OOM killer) is replaced.
        "respawn_failed_workers": True,
    }


def worker_application() -> Any:
    """Keystead's WSGI application for one granian worker, with the ``KEYSTEAD_*``
    variables then taken out of the worker's environment.

    granian starts every request's WSGI environ from a copy of ``os.environ`` taken
    after this returns, so without this each request's ``request.META`` would carry
    KEYSTEAD_SECRET_KEY and the database URL with its password, where an error report
    or a debugging aid that shows META could print them (Django's report masks names
    with SECRET or KEY, not KEYSTEAD_DATABASE_URL). The settings, which read them, are
    loaded by now; the main process keeps them for the workers it starts later.
    """
    from keystead.wsgi import application

    for name in [name for name in os.environ if name.startswith("KEYSTEAD_")]:
        del os.environ[name]
    return application


def _run_granian(bind: Bind, workers: int) -> None:
    """Run granian in this process through its Python API (``Granian(...).serve()``).

    Chosen over exec'ing the ``granian`` script because it needs no PATH or
    venv lookup (so ``python -m keystead serve`` works the same) and the
    options are checked Python values rather than a quoted command line. The
    settings are loaded here first, so a configuration mistake is reported as a
    plain message before anything listens, and the first run's keys are
    generated once, before the workers start. This process becomes granian's
    main process, so signals (TERM or INT graceful stop, HUP fresh workers)
    behave as documented for granian.
    """
    setup_django()
    from django.conf import settings
    from granian import Granian

    server = Granian(**granian_options(bind, workers, settings.LOG_FORMAT, settings.LOG_LEVEL))

    @server.on_startup
    def announce() -> None:
        processes = f"{workers} worker{'s' if workers > 1 else ''}"
        click.echo(f"Keystead is serving on {bind.url} (granian, {processes})")
        click.echo(f"Public address (KEYSTEAD_BASE_URL): {settings.BASE_URL}/")

    server.serve()
