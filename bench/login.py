#!/usr/bin/env python3
"""Password sign-ins per second through HTTP, against raw argon2id on the same cores.

    .venv/bin/python bench/login.py [--seconds 20] [--concurrency N] [--workers N]

What it does, in one run:

1. creates a fresh PostgreSQL database (``keystead_bench``, dropped first),
   runs ``keystead migrate`` into it and creates ``--users`` accounts with
   known passwords that pass the default policy;
2. starts ``keystead serve`` (gunicorn, ``--workers``, default one per core)
   on a free port;
3. drives password sign-ins through HTTP for ``--seconds``: each one is what a
   browser does, ``GET /login/`` (CSRF cookie and token) then ``POST /login/``,
   and only a ``302`` to ``/`` counts (a wrong answer, a forced password change
   or an error does not). ``--concurrency`` client processes (default 2 per
   worker, so a worker never waits for a client) speak plain ``http.client``,
   the cheapest client at hand, because they share the cores with the server;
4. measures, in the same run and on the same cores, raw argon2id
   verifications per second with the server's parameters (read from its
   settings): as many processes as the server has workers, each verifying in
   a loop, for as long as the sign-ins ran. The two alternate in ``--rounds``
   pieces (argon2, HTTP, HTTP, argon2, ...) so a change in the machine's
   speed during the run (another program, thermal limits) weighs on both;
5. prints sign-ins/s, argon2 verifications/s and their ratio (the target is at
   least 0.85), where the CPU time went (server, PostgreSQL, clients, anything
   else on the machine) and Keycloak's published sizing for comparison.

The ratio is the point: argon2 is the physical limit of a password sign-in
(it is meant to be slow), so the ratio says how much of the machine the rest
of the sign-in (HTTP, Django, sessions, audit, database) costs. ``--json``
writes the figures for ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

KEYCLOAK_SIGN_INS_PER_VCPU = 15  # Keycloak's sizing guide: 1 vCPU per 15 password logins/s
TARGET_RATIO = 0.85
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- the machine


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


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


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
    """PostgreSQL server processes serving the bench database (one per web worker)."""
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


def user_email(i: int) -> str:
    return f"bench{i:05d}@bench.example"


def user_password(i: int) -> str:
    return f"Quartz-Lantern-{i:05d}-Meadow"


def create_users(count: int) -> None:
    """(Runs in a subprocess with the bench database's environment.) Make the accounts.

    Prints the argon2 parameters from Keystead's settings as JSON, so the raw
    measurement uses exactly what the server uses.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keystead.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from keystead.directory.models import User
    from keystead.policy.services import password_problems
    from keystead.secret import Secret

    now = timezone.now()
    users = []
    for i in range(count):
        user = User(email=user_email(i), given_name="Load", family_name=f"Tester {i}",
                    password=make_password(user_password(i)), password_changed_at=now)
        problems = password_problems(Secret(user_password(i)), user=user)
        if problems:
            raise SystemExit(f"bench password {i} breaks the policy: {problems}")
        users.append(user)
    User.objects.bulk_create(users)
    print(json.dumps({
        "time_cost": settings.ARGON2_TIME_COST,
        "memory_kib": settings.ARGON2_MEMORY_KIB,
        "parallelism": settings.ARGON2_PARALLELISM,
    }))


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def keystead_server(env: dict[str, str], port: int, workers: int,
                    log_path: Path) -> Iterator[subprocess.Popen]:
    """``keystead serve`` as a subprocess; stopped (SIGTERM, then kill) and waited for."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments, no shell)
            [str(VENV_BIN / "keystead"), "serve", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, _ = request("127.0.0.1", port, "GET", "/healthz")
                    if status == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"keystead serve did not start; see {log_path}")
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


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


# --------------------------------------------------------------------------- the load


def sign_in(host: str, port: int, email: str, password: str) -> str:
    """One browser-like sign-in; returns "ok" or what went wrong."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", "/login/")
        page = conn.getresponse()
        body = page.read()
    finally:
        conn.close()
    token = CSRF_INPUT.search(body)
    cookie = next((m.group(1) for c in page.headers.get_all("Set-Cookie") or []
                   if (m := CSRF_COOKIE.match(c))), None)
    if page.status != 200 or token is None or cookie is None:
        return f"GET /login/ {page.status}"
    form = urlencode({"csrfmiddlewaretoken": token.group(1).decode(), "username": email,
                      "password": password, "next": ""}).encode()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("POST", "/login/", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}", "Referer": f"http://{host}:{port}/login/"})
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    if answer.status == 302 and answer.getheader("Location") == "/":
        return "ok"
    return f"POST /login/ {answer.status} {answer.getheader('Location') or ''}".strip()


def client_loop(index: int, clients: int, users: int, port: int, start: float, stop: float,
                out: mp.Queue) -> None:
    """One client process: sign-ins back to back; counts those finished inside [start, stop)."""
    ok, problems, n = 0, {}, index
    while time.monotonic() < start:
        time.sleep(0.001)
    cpu0 = time.process_time()
    while time.monotonic() < stop:
        outcome = sign_in("127.0.0.1", port, user_email(n % users), user_password(n % users))
        n += clients
        if time.monotonic() < stop:  # one still running at the end is not counted
            if outcome == "ok":
                ok += 1
            else:
                problems[outcome] = problems.get(outcome, 0) + 1
    out.put({"ok": ok, "problems": problems, "cpu": time.process_time() - cpu0})


def argon2_loop(params: dict[str, int], start: float, stop: float, out: mp.Queue) -> None:
    """Raw argon2id verifications of a correct password, back to back, inside [start, stop)."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=params["time_cost"], memory_cost=params["memory_kib"],
                            parallelism=params["parallelism"])
    password = user_password(0)
    encoded = hasher.hash(password)
    hasher.verify(encoded, password)  # warm: the first call maps the memory
    done = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    cpu0 = time.process_time()
    while time.monotonic() < stop:
        hasher.verify(encoded, password)
        if time.monotonic() < stop:
            done += 1
    out.put({"done": done, "cpu": time.process_time() - cpu0})


def run_parallel(target: Callable, args_for: Callable[[int], tuple], count: int,
                 seconds: float) -> tuple[list, float, float]:
    """Start ``count`` processes that work during the same window; returns their results
    and the window's machine-wide busy CPU seconds and length."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start = time.monotonic() + 1.0  # time for every process to be ready
    stop = start + seconds
    procs = [ctx.Process(target=target, args=(*args_for(i), start, stop, out))
             for i in range(count)]
    for proc in procs:
        proc.start()
    while time.monotonic() < start:
        time.sleep(0.001)
    busy0 = machine_busy_seconds()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    busy = machine_busy_seconds() - busy0
    for proc in procs:
        proc.join()
    return results, busy, seconds


def raw_argon2(params: dict[str, int], processes: int, seconds: float) -> tuple[float, float]:
    """Verifications per second, and CPU seconds per verification."""
    results, _, _ = run_parallel(argon2_loop, lambda i: (params,), processes, seconds)
    done = sum(r["done"] for r in results)
    return done / seconds, sum(r["cpu"] for r in results) / max(done, 1)


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    date: str
    machine: str
    cores: int
    memory_gib: float
    python: str
    argon2: dict[str, int]
    workers: int
    concurrency: int
    users: int
    seconds: float
    rounds: int
    sign_ins: int
    sign_ins_per_s: float
    argon2_per_round: list[float]
    argon2_per_s: float
    ratio: float
    problems: dict[str, int] = field(default_factory=dict)
    cpu_share: dict[str, float] = field(default_factory=dict)  # of cores x seconds
    # CPU milliseconds per sign-in by where they were spent, and per raw verification:
    # unlike the rates these do not depend on what else the machine is doing.
    cpu_ms_per_sign_in: dict[str, float] = field(default_factory=dict)
    argon2_cpu_ms: float = 0.0
    cpu_ratio: float = 0.0  # argon2 CPU per verification / all CPU per sign-in
    keycloak_sign_ins_per_s: int = 0


def fresh_installation(args: argparse.Namespace, port: int, workdir: Path, script: str,
                       setup: list[str]) -> tuple[dict[str, str], Any]:
    """Recreate the bench database, migrate it, and run ``script setup...`` against it.

    Returns the server's environment and the JSON the setup step printed last.
    """
    env = {
        **os.environ,
        "KEYSTEAD_DATABASE_URL": database_url(args.admin_url, args.database),
        "KEYSTEAD_DATA_DIR": str(workdir / "data"),
        "KEYSTEAD_SECRET_KEY": secrets.token_urlsafe(50),
        "KEYSTEAD_BASE_URL": f"http://127.0.0.1:{port}",
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


def bench(args: argparse.Namespace) -> Figures:
    cores = usable_cores()
    workers = args.workers or cores
    concurrency = args.concurrency or 2 * workers
    workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    port = free_port()
    say(f"database {args.database}: recreate, migrate, {args.users} users")
    env, params = fresh_installation(args, port, workdir, __file__,
                                     ["--_create-users", str(args.users)])

    rounds = max(1, args.rounds)
    piece = args.seconds / rounds
    log_path = workdir / "serve.log"
    say(f"keystead serve: {workers} workers on 127.0.0.1:{port} (log: {log_path})")
    rates: list[float] = []  # raw argon2id verifications/s, one per round
    argon2_cpu_each: list[float] = []
    results: list[dict] = []
    busy = server_cpu = db_cpu = 0.0
    with keystead_server(env, port, workers, log_path) as server:
        say(f"warm-up: {args.warm_up:g}s of sign-ins, not counted")
        run_parallel(client_loop, lambda i: (i, concurrency, args.users, port),
                     concurrency, args.warm_up)
        server_pids = [server.pid, *children_of(server.pid)]
        for r in range(rounds):
            # A-B, B-A, ...: a machine that speeds up or slows down during the run
            # (another program, thermal limits) weighs on both measurements alike.
            for what in ("argon2", "http") if r % 2 == 0 else ("http", "argon2"):
                if what == "argon2":
                    say(f"round {r + 1}/{rounds}: raw argon2id, {workers} processes, "
                        f"{piece:g}s")
                    rate, cpu_each = raw_argon2(params, workers, piece)
                    rates.append(rate)
                    argon2_cpu_each.append(cpu_each)
                    continue
                say(f"round {r + 1}/{rounds}: sign-ins, {concurrency} clients, {piece:g}s")
                db0 = {p: process_cpu_seconds(p) for p in backend_pids(args.admin_url,
                                                                        args.database)}
                server0 = sum(process_cpu_seconds(p) for p in server_pids)
                got, busy_here, _ = run_parallel(
                    client_loop, lambda i: (i, concurrency, args.users, port), concurrency,
                    piece)
                server_cpu += sum(process_cpu_seconds(p) for p in server_pids) - server0
                db_cpu += database_cpu_since(db0, backend_pids(args.admin_url, args.database))
                busy += busy_here
                results += got

    seconds = piece * rounds
    sign_ins = sum(r["ok"] for r in results)
    problems: dict[str, int] = {}
    for r in results:
        for what, n in r["problems"].items():
            problems[what] = problems.get(what, 0) + n
    client_cpu = sum(r["cpu"] for r in results)
    capacity = cores * seconds
    raw = sum(rates) / len(rates)
    per_s = sign_ins / seconds
    n = max(sign_ins, 1)
    argon2_cpu = sum(argon2_cpu_each) / len(argon2_cpu_each)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(), argon2=params,
        workers=workers, concurrency=concurrency, users=args.users, seconds=seconds,
        rounds=rounds,
        sign_ins=sign_ins, sign_ins_per_s=round(per_s, 1),
        argon2_per_round=[round(x, 1) for x in rates], argon2_per_s=round(raw, 1),
        ratio=round(per_s / raw, 3) if raw else 0.0,
        problems=problems,
        cpu_share={
            "server (gunicorn master + workers)": round(server_cpu / capacity, 3),
            "PostgreSQL (bench database backends)": round(db_cpu / capacity, 3),
            "HTTP clients": round(client_cpu / capacity, 3),
            "everything else on the machine": round(
                max(busy - server_cpu - db_cpu - client_cpu, 0) / capacity, 3),
            "idle": round(max(capacity - busy, 0) / capacity, 3),
        },
        keycloak_sign_ins_per_s=KEYCLOAK_SIGN_INS_PER_VCPU * cores,
        cpu_ms_per_sign_in={
            "server": round(server_cpu / n * 1000, 2),
            "PostgreSQL": round(db_cpu / n * 1000, 2),
            "clients": round(client_cpu / n * 1000, 2),
        },
        argon2_cpu_ms=round(argon2_cpu * 1000, 2),
        cpu_ratio=round(argon2_cpu / ((server_cpu + db_cpu + client_cpu) / n), 3),
    )


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def report(f: Figures) -> str:
    a = f.argon2
    lines = [
        f"machine      {f.cores} cores, {f.machine}, {f.memory_gib} GiB, Python {f.python}",
        f"argon2id     t={a['time_cost']} m={a['memory_kib']} KiB p={a['parallelism']}",
        f"server       keystead serve (gunicorn) {f.workers} workers, PostgreSQL; "
        f"{f.concurrency} clients, {f.users} users, {f.seconds:g}s in {f.rounds} rounds",
        f"sign-ins     {f.sign_ins_per_s:.1f}/s  ({f.sign_ins} in {f.seconds:g}s; "
        f"GET /login/ + POST /login/ -> 302 /)",
        f"argon2id     {f.argon2_per_s:.1f} verifications/s raw on the same cores "
        f"(rounds: {', '.join(f'{x:.1f}' for x in f.argon2_per_round)})",
        f"ratio        {f.ratio:.3f}  (target >= {TARGET_RATIO}: "
        f"{'met' if f.ratio >= TARGET_RATIO else 'NOT met'})",
        f"Keycloak     {KEYCLOAK_SIGN_INS_PER_VCPU}/s per vCPU published sizing -> "
        f"{f.keycloak_sign_ins_per_s}/s on {f.cores} cores "
        f"(ours: {f.sign_ins_per_s / f.cores:.1f}/s per core)",
        "CPU during the sign-ins (share of cores x seconds):",
        *[f"  {what:40s} {share:6.1%}" for what, share in f.cpu_share.items()],
        "CPU per sign-in: " + ", ".join(
            f"{what} {ms:.1f} ms" for what, ms in f.cpu_ms_per_sign_in.items())
        + f"; one raw argon2id verification {f.argon2_cpu_ms:.1f} ms",
        f"CPU ratio    {f.cpu_ratio:.3f}  (argon2 CPU / all CPU of a sign-in: the ratio an "
        "idle machine with busy cores would reach)",
    ]
    other = f.cpu_share.get("everything else on the machine", 0)
    if other > 0.05:
        lines.append(f"WARNING      other programs used {other:.0%} of the CPU during the "
                     "run: the rates (not the CPU figures) are understated; run it again "
                     "on a quiet machine")
    if f.problems:
        lines.append(f"not counted  {f.problems}")
    return "\n".join(lines)


def add_common_arguments(parser: argparse.ArgumentParser, *, raw: str) -> None:
    """The options every benchmark here takes; ``raw`` names the limit it measures."""
    parser.add_argument("--seconds", type=float, default=20,
                        help=f"length of each HTTP run; raw {raw} gets as long (default 20)")
    parser.add_argument("--workers", type=int, default=0,
                        help=f"gunicorn workers and {raw} processes (default: one per core)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="client processes (default: 2 per worker)")
    parser.add_argument("--rounds", type=int, default=4,
                        help=f"alternate {raw} and the HTTP runs this many times (4)")
    parser.add_argument("--warm-up", type=float, default=3, help="seconds not counted (3)")
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL allowed to create databases")
    parser.add_argument("--database", default="keystead_bench",
                        help="database to drop and create (keystead_bench)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")


def run_and_report(args: argparse.Namespace, run: Callable[[argparse.Namespace], Any],
                   describe: Callable[[Any], str]) -> None:
    """Run ``run(args)``, print ``describe(figures)``, and write them as JSON if asked."""
    # SIGTERM (and SIGINT, which a background job ignores) stop the run through the
    # `finally` blocks, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures = run(args)
    print(describe(figures))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--_create-users":
        create_users(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, raw="argon2")
    parser.add_argument("--users", type=int, default=64, help="accounts to sign in (64)")
    run_and_report(parser.parse_args(), bench, report)


if __name__ == "__main__":
    main()
