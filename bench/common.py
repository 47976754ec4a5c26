"""What the benchmarks share: the machine, the bench database, the web servers under test,
the load (wrk), the raw loops, the alternation of rounds and the command-line options.

bench/ is not a package: each script puts this directory on ``sys.path`` and imports
this module by name.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent
SERVERS = ("granian", "gthread")  # every server the benchmarks can compare
# Threads per worker process of gunicorn's gthread worker, as the bench starts it: as many
# as keystead serve gives each granian worker (keystead.cli.serve.THREADS).
GTHREAD_THREADS = 4


# --------------------------------------------------------------------------- the machine


def raw_processes(workers: int, cores: int) -> int:
    """Processes for the raw measurement: one per core the server can use.

    More processes than cores would only take turns on them (and thrash each other's
    caches), which would lower the raw rate and flatter the server's ratio."""
    return min(workers, cores)


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set), as ``keystead serve`` counts."""
    return len(os.sched_getaffinity(0))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_seconds() -> tuple[float, float]:
    """CPU seconds since boot, all cores: busy (anything but idle, I/O wait and steal) and
    stolen (steal: the hypervisor gave the time to other guests while ours wanted to run;
    on a shared virtual machine, time this machine's programs could not use)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def steal_warning(share: float, during: str) -> list[str]:
    """The report's warning when the host took more than 5 % of the CPU time."""
    if share <= 0.05:
        return []
    return [f"WARNING      the virtual machine's host took {share:.0%} of the CPU time during "
            f"{during} (steal): this machine is slower than its own cores today"]


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):  # the thread ended meanwhile
            kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


# --------------------------------------------------------------------------- the database


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return parts._replace(path="/" + quote(name)).geturl()


def recreate_database(admin_url: str, name: str) -> None:
    """Drop and create the bench database, so every run starts from the same state."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def backend_pids(admin_url: str, name: str) -> list[int]:
    """PostgreSQL server processes serving the bench database (one per web worker thread)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchall()
    return [row[0] for row in rows]


def database_cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds the bench database's backends used since ``before`` was taken.

    A worker reconnects now and then (CONN_MAX_AGE), so backends come and go: a
    new one counts in full, one that ended in between is lost (a slight undercount).
    """
    total = 0.0
    for pid in pids:
        now = process_cpu_seconds(pid)
        total += now - before[pid] if pid in before else now
    return total


def fresh_installation(args: argparse.Namespace, workdir: Path, script: str,
                       setup: list[str]) -> tuple[dict[str, str], Any]:
    """Recreate the bench database, migrate it, and run ``script setup...`` against it.

    Returns the servers' environment and the JSON the setup step printed last.
    """
    env = {
        **os.environ,
        "KEYSTEAD_DATABASE_URL": database_url(args.admin_url, args.database),
        "KEYSTEAD_DATA_DIR": str(workdir / "data"),
        "KEYSTEAD_SECRET_KEY": secrets.token_urlsafe(50),
        "KEYSTEAD_BASE_URL": "http://127.0.0.1",
        "KEYSTEAD_DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "keystead.settings",
    }
    recreate_database(args.admin_url, args.database)
    # Our own commands with fixed arguments and no shell:
    subprocess.run([str(VENV_BIN / "keystead"), "migrate"],  # noqa: S603
                   env=env, check=True, stdout=subprocess.DEVNULL)
    made = subprocess.run([sys.executable, script, *setup],  # noqa: S603
                          env=env, check=True, capture_output=True, text=True)
    return env, json.loads(made.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(host: str, port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, response
    finally:
        conn.close()


def server_command(name: str, port: int, workers: int) -> tuple[list[str], str]:
    """How the bench starts server ``name``: its command line and a one-line description.

    granian is what ``keystead serve`` runs, so it is started as ``keystead serve``: the
    figures are those of the configuration that ships (keystead.cli.serve.granian_options).
    gunicorn's gthread worker, the other candidate, is started by gunicorn's own command
    line with the settings ``keystead serve`` would give it: threads, keep-alive, timeouts,
    the application loaded once before the workers start, the access log on stdout.
    """
    from importlib.metadata import version

    if name == "granian":
        from keystead.cli.serve import THREADS

        return ([str(VENV_BIN / "keystead"), "serve", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(workers)],
                f"keystead serve: granian {version('granian')} WSGI, {workers} workers x "
                f"{THREADS} threads")
    if name == "gthread":
        gunicorn = VENV_BIN / "gunicorn"
        if not gunicorn.exists():
            raise SystemExit("comparing with gthread needs gunicorn in the venv: "
                             "make bench-deps, or .venv/bin/pip install 'gunicorn>=25.1'")
        return ([str(gunicorn), "--worker-class", "gthread", "--threads", str(GTHREAD_THREADS),
                 "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                 "--keep-alive", "5", "--timeout", "60", "--graceful-timeout", "30",
                 "--preload", "--access-logfile", "-", "--error-logfile", "-",
                 "--worker-tmp-dir", "/dev/shm",  # noqa: S108 (heartbeat files on tmpfs)
                 "--no-control-socket",
                 "keystead.wsgi:application"],
                f"gunicorn {version('gunicorn')} gthread, {workers} workers x "
                f"{GTHREAD_THREADS} threads")
    raise SystemExit(f"unknown server {name!r}; known: {', '.join(SERVERS)}")


@dataclass
class Server:
    """A server under test, running."""

    name: str
    description: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def pids(self) -> list[int]:
        """The server's processes: the one started and its worker processes."""
        return [self.proc.pid, *children_of(self.proc.pid)]


@contextmanager
def one_server(name: str, env: dict[str, str], workers: int,
               workdir: Path) -> Iterator[Server]:
    """Server ``name`` as a subprocess on a free port; stopped (SIGTERM, then kill) and
    waited for."""
    port = free_port()
    argv, description = server_command(name, port, workers)
    log_path = workdir / f"{name}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log,  # noqa: S603 (fixed, no shell)
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request("127.0.0.1", port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start; see {log_path}")
            time.sleep(0.2)
        say(f"{description} on 127.0.0.1:{port} (log: {log_path})")
        yield Server(name, description, port, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def servers_running(names: list[str], env: dict[str, str], workers: int,
                    workdir: Path) -> Iterator[dict[str, Server]]:
    """Every server under test at once, each on its own port: the rounds alternate between
    them without a restart. An idle server takes next to no CPU, and what it takes counts
    as "everything else on the machine" in the report."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(one_server(name, env, workers, workdir))
               for name in names}


# --------------------------------------------------------------------------- the load

# What every wrk script of the benchmarks starts and ends with: each thread (its ``id``
# counting from 0) counts what it got right in ``ok`` and what it did not in ``problems``;
# ``run_wrk`` reads the report ``done`` writes.
WRK_THREADS = r"""
ok, problems = 0, {}  -- globals: done() reads them from each thread
threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
"""
WRK_REPORT = r"""
function done(summary, latency, requests)
  io.write(string.format("duration_us %d\n", summary.duration))
  for _, thread in ipairs(threads) do
    io.write(string.format("ok %d\n", thread:get("ok")))
    for what, count in pairs(thread:get("problems")) do
      io.write(string.format("problem %d %s\n", count, what))
    end
  end
end
"""


def run_wrk(script: Path, url: str, clients: int, seconds: float,
            script_args: list[str]) -> dict[str, Any]:
    """Run ``wrk`` for ``seconds``: ``clients`` connections, each its own thread and client.

    Returns what the threads counted (``ok``, ``problems``, see ``WRK_REPORT``), the
    run's length as wrk measured it, and wrk's CPU seconds (user + system).
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("the benchmarks need wrk (Debian: apt-get install wrk)")
    proc = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments, no shell)
        [wrk, "-t", str(clients), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
         "--timeout", "60s", "-s", str(script), url, "--", *script_args],
        stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"wrk failed:\n{out}")
    ok, problems, duration = 0, {}, seconds
    for line in out.splitlines():
        key, _, rest = line.partition(" ")
        if key == "duration_us":
            duration = int(rest) / 1e6
        elif key == "ok":
            ok += int(rest)
        elif key == "problem":
            count, _, what = rest.partition(" ")
            problems[what] = problems.get(what, 0) + int(count)
    return {"ok": ok, "problems": problems, "seconds": duration,
            "cpu": usage.ru_utime + usage.ru_stime}


@dataclass
class Tally:
    """The HTTP pieces of one server and one kind of request, added up."""

    ok: int = 0
    seconds: float = 0.0  # as wrk timed them
    problems: dict[str, int] = field(default_factory=dict)
    server: float = 0.0  # CPU seconds of the server's processes
    db: float = 0.0  # ... of the bench database's backends
    client: float = 0.0  # ... of wrk
    busy: float = 0.0  # ... of the whole machine
    stolen: float = 0.0  # CPU seconds the hypervisor took
    round_rates: list[float] = field(default_factory=list)

    def measure(self, server: Server, admin_url: str, database: str,
                load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``load()`` (a ``run_wrk``) against ``server`` and add what it did and cost."""
        db0 = {p: process_cpu_seconds(p) for p in backend_pids(admin_url, database)}
        pids = server.pids()
        server0 = sum(process_cpu_seconds(p) for p in pids)
        busy0, stolen0 = machine_cpu_seconds()
        got = load()
        busy1, stolen1 = machine_cpu_seconds()
        self.server += sum(process_cpu_seconds(p) for p in pids) - server0
        self.db += database_cpu_since(db0, backend_pids(admin_url, database))
        self.busy += busy1 - busy0
        self.stolen += stolen1 - stolen0
        self.ok += got["ok"]
        self.seconds += got["seconds"]
        self.client += got["cpu"]
        self.round_rates.append(got["ok"] / got["seconds"] if got["seconds"] else 0.0)
        for problem, count in got["problems"].items():
            self.problems[problem] = self.problems.get(problem, 0) + count
        return got

    def other(self) -> float:
        """CPU seconds of everything else on the machine meanwhile."""
        return max(self.busy - self.server - self.db - self.client, 0.0)


def alternating(rounds: int, steps: list[Any]) -> Iterator[tuple[int, Any]]:
    """``(round, step)`` for every step of every round: A-B-C, C-B-A, A-B-C, ... so a
    machine that speeds up or slows down during the run (another program, thermal
    limits) weighs on every measurement alike."""
    for r in range(rounds):
        for step in steps if r % 2 == 0 else steps[::-1]:
            yield r, step


# --------------------------------------------------------------------------- the raw limit


def repeat_in_window(work: Callable[[], object], start: float, stop: float,
                     out: mp.Queue) -> None:
    """Do ``work`` back to back inside [start, stop); put how many finished inside the
    window and the CPU seconds they took (one still running at ``stop`` is not counted)."""
    done = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    cpu0 = time.process_time()
    while time.monotonic() < stop:
        work()
        if time.monotonic() < stop:
            done += 1
    out.put({"done": done, "cpu": time.process_time() - cpu0})


def run_parallel(target: Callable, args_for: Callable[[int], tuple], count: int,
                 seconds: float) -> tuple[float, float]:
    """Start ``count`` processes that repeat their work during the same window of
    ``seconds``; returns how many finished per second and the CPU seconds each took."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start = time.monotonic() + 1.0  # time for every process to be ready
    stop = start + seconds
    procs = [ctx.Process(target=target, args=(*args_for(i), start, stop, out))
             for i in range(count)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(r["done"] for r in results)
    return done / seconds, sum(r["cpu"] for r in results) / max(done, 1)


# --------------------------------------------------------------------------- the run


@dataclass
class Setup:
    """What a run decides before it starts, from its options and the machine."""

    cores: int
    workers: int
    concurrency: int
    raw_procs: int
    rounds: int
    piece: float  # seconds of each HTTP piece (and raw piece) in a round
    servers: list[str]
    workdir: Path


def setup_run(args: argparse.Namespace) -> Setup:
    """By default one client connection per server thread: every thread has a request to
    answer, so the figures are the server's capacity rather than the clients' pace (with
    fewer connections, threads wait on PostgreSQL with nothing else to do and cores idle)."""
    from keystead.cli.serve import THREADS

    cores = usable_cores()
    workers = args.workers or cores
    rounds = max(1, args.rounds)
    return Setup(
        cores=cores, workers=workers, concurrency=args.concurrency or THREADS * workers,
        raw_procs=raw_processes(workers, cores), rounds=rounds,
        piece=max(1, round(args.seconds / rounds)),  # wrk takes whole seconds
        servers=args.servers,
        workdir=Path(tempfile.mkdtemp(prefix="keystead-bench-")))


def machine_line(cores: int, machine: str, memory: float, python: str) -> str:
    return f"machine      {cores} cores, {machine}, {memory} GiB, Python {python}"


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _server_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing'}: not a server here; give some of "
            f"{','.join(SERVERS)}")
    return list(dict.fromkeys(names))


def add_database_arguments(parser: argparse.ArgumentParser, database: str) -> None:
    """``--admin-url`` and ``--database``: where the benchmark makes its fresh database."""
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL allowed to create databases")
    parser.add_argument("--database", default=database,
                        help=f"database to drop and create ({database}); two runs at once "
                             "need two names")


def add_common_arguments(parser: argparse.ArgumentParser, *, raw: str, seconds: int = 20,
                         rounds: int = 4) -> None:
    """The options every benchmark here takes; ``raw`` names the limit it measures."""
    parser.add_argument("--seconds", type=float, default=seconds,
                        help=f"length of each HTTP run, per server; raw {raw} gets as long "
                             f"(default {seconds})")
    parser.add_argument("--servers", type=_server_list, default=list(SERVERS),
                        help="web servers to compare in the same run, alternating "
                             f"(default {','.join(SERVERS)})")
    parser.add_argument("--workers", type=int, default=0,
                        help=f"worker processes of each server (default: one per core); {raw} "
                             "runs one process per core, or one per worker if fewer")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="client connections (default: one per server thread)")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"alternate {raw} and the HTTP runs this many times ({rounds})")
    parser.add_argument("--warm-up", type=float, default=3, help="seconds not counted (3)")
    add_database_arguments(parser, "keystead_bench")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server logs")


def run_and_report(args: argparse.Namespace, run: Callable[[argparse.Namespace], Any],
                   describe: Callable[[Any], str]) -> None:
    """Run ``run(args)``, print ``describe(figures)``, and write them as JSON if asked."""
    # SIGTERM (and SIGINT, which a background job ignores) stop the run through the
    # `finally` blocks, so the servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures = run(args)
    print(describe(figures))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")
