#!/usr/bin/env python3
"""Password sign-ins per second through HTTP, against raw argon2id on the same cores.

    .venv/bin/python bench/login.py [--seconds 40] [--concurrency N] [--workers N]

What it does, in one run:

1. creates a fresh PostgreSQL database (``keystead_bench``, dropped first),
   runs ``keystead migrate`` into it and creates ``--users`` accounts with
   known passwords that pass the default policy;
2. starts ``keystead serve`` (gunicorn, ``--workers``, default one per core)
   on a free port;
3. drives password sign-ins through HTTP, in two forms, each for ``--seconds``:

   * **page**: what a browser does the first time, ``GET /login/`` (CSRF cookie
     and the page's form token) then ``POST /login/``;
   * **post**: ``POST /login/`` alone, by a client that already holds the
     ``csrftoken`` cookie (from one ``GET /login/`` when it starts) and sends
     the cookie's value as the form token, which Django's CSRF check accepts
     as well (it compares the form token with the cookie: no server-side CSRF
     state, so the check costs the server the same either way). This is a
     returning browser that has the cookie already: the sign-in itself,
     without fetching the page.

   In both, only a ``302`` to ``/`` that sets a ``sessionid`` cookie counts (a
   wrong answer, a forced password change or an error does not); every POST is
   a real argon2id verification of a real account's password with CSRF on,
   and the database's own count of new sessions and successful sign-in audit
   events is reported beside the count (it must not be lower). The load
   comes from ``wrk`` (C; one connection per thread, ``--concurrency``
   threads, default 2 per worker so a worker never waits for a client) with a
   small Lua script, because the clients share the cores with the server:
   with Python's ``http.client`` they took about 1 ms of CPU per sign-in;
4. measures, in the same run and on the same cores, raw argon2id
   verifications per second with the server's parameters (read from its
   settings): one process per core (fewer if the server has fewer workers),
   each verifying in a loop, for as long as each form of sign-in ran: the
   most a CPU-bound loop can do on those cores, however many workers the
   server runs. They alternate in ``--rounds`` pieces (argon2, page, post,
   then post, page, argon2, ...) so a change in the machine's speed during
   the run (another program, thermal limits) weighs on all of them;
5. prints, for each form, sign-ins/s, argon2 verifications/s and their ratio
   (the target is at least 0.85), where the CPU time went (server, PostgreSQL,
   clients, anything else on the machine) and the CPU per sign-in, and
   Keycloak's published sizing for comparison.

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
from urllib.parse import quote, urlsplit

KEYCLOAK_SIGN_INS_PER_VCPU = 15  # Keycloak's sizing guide: 1 vCPU per 15 password logins/s
TARGET_RATIO = 0.85
CLK_TCK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent


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

# The two forms of a password sign-in the bench counts (see the module docstring).
FORMS = {
    "page": "GET /login/ + POST /login/",
    "post": "POST /login/ with the CSRF cookie held",
}

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


# wrk (C, one connection per thread) drives the sign-ins, so the load generator's CPU,
# which shares the cores with the server, stays small. Each thread is one client: it
# signs in its own share of the accounts one after the other and checks every answer.
WRK_SCRIPT = r"""
local form, users, step, host
local n, phase, cookie, token = 0, "get", nil, nil

function init(args)
  form, users, step, host = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
  n = id
end

local function problem(what)
  problems[what] = (problems[what] or 0) + 1
end

local function enc(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function request()
  if phase == "get" then
    return wrk.format("GET", "/login/")
  end
  local i = n % users
  local body = "csrfmiddlewaretoken=" .. token
    .. "&username=" .. enc(string.format("bench%05d@bench.example", i))
    .. "&password=" .. enc(string.format("Quartz-Lantern-%05d-Meadow", i)) .. "&next="
  return wrk.format("POST", "/login/", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. cookie,
    ["Referer"] = "http://" .. host .. "/login/",
  }, body)
end

function response(status, headers, body)
  if phase == "get" then
    local set = headers["Set-Cookie"] or ""
    local c = set:match("csrftoken=([^;]+)")
    local t = body:match('name="csrfmiddlewaretoken" value="([^"]+)"')
    if status ~= 200 or c == nil or t == nil then
      problem("GET /login/ " .. status)
      return
    end
    cookie = c
    -- the page's (masked) form token, or, when the client holds the cookie, the cookie's
    -- value itself, which Django's CSRF check accepts as the form token as well
    token = (form == "page") and t or c
    phase = "post"
    return
  end
  -- Only a 302 to / that starts a session counts. (The sessionid cookie comes last, so it
  -- is the Set-Cookie wrk keeps; the bench also counts the sessions the database got.)
  local set = headers["Set-Cookie"] or ""
  if status == 302 and headers["Location"] == "/" and set:match("^sessionid=") then
    ok = ok + 1
  else
    problem("POST /login/ " .. status .. " " .. (headers["Location"] or ""))
  end
  n = n + step
  if form == "page" then
    phase = "get"
  end
end
"""


def sign_in_load(form: str, clients: int, users: int, port: int, seconds: float,
                 script: Path) -> dict[str, Any]:
    """The sign-ins of one piece of the run (see ``run_wrk``)."""
    return run_wrk(script, f"http://127.0.0.1:{port}/login/", clients, seconds,
                   [form, str(users), str(clients), f"127.0.0.1:{port}"])


def sessions_and_sign_ins(db_url: str) -> tuple[int, int]:
    """Stored sessions, and successful password sign-ins in the audit log (the honesty check)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        sessions = conn.execute("SELECT count(*) FROM django_session").fetchone()[0]
        events = conn.execute(
            "SELECT count(*) FROM directory_event WHERE action = 'login' "
            "AND outcome = 'success'").fetchone()[0]
    return sessions, events


def argon2_loop(params: dict[str, int], start: float, stop: float, out: mp.Queue) -> None:
    """Raw argon2id verifications of a correct password, back to back, inside [start, stop)."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=params["time_cost"], memory_cost=params["memory_kib"],
                            parallelism=params["parallelism"])
    password = user_password(0)
    encoded = hasher.hash(password)
    hasher.verify(encoded, password)  # warm: the first call maps the memory
    repeat_in_window(lambda: hasher.verify(encoded, password), start, stop, out)


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
    busy0, _ = machine_cpu_seconds()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    busy = machine_cpu_seconds()[0] - busy0
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
class FormFigures:
    """The figures of one form of sign-in (``FORMS``)."""

    what: str
    sign_ins: int
    seconds: float
    sign_ins_per_s: float
    ratio: float  # sign-ins/s / raw argon2id verifications/s
    problems: dict[str, int] = field(default_factory=dict)
    # Each round's sign-ins/s over the raw rate measured in the same round: how steady the
    # ratio is while the machine's own speed moves.
    round_ratios: list[float] = field(default_factory=list)
    # The database's own count of what the counted sign-ins must have left behind.
    sessions_stored: int = 0
    sign_in_events: int = 0
    cpu_share: dict[str, float] = field(default_factory=dict)  # of cores x seconds
    # CPU milliseconds per sign-in by where they were spent: unlike the rates these do
    # not depend on what else the machine is doing.
    cpu_ms_per_sign_in: dict[str, float] = field(default_factory=dict)
    cpu_ratio: float = 0.0  # argon2 CPU per verification / all CPU per sign-in


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
    argon2_per_round: list[float]
    argon2_per_s: float
    argon2_cpu_ms: float
    forms: dict[str, FormFigures] = field(default_factory=dict)
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
    raw_procs = raw_processes(workers, cores)
    workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    script = workdir / "sign-in.lua"
    script.write_text(WRK_THREADS + WRK_SCRIPT + WRK_REPORT)
    port = free_port()
    say(f"database {args.database}: recreate, migrate, {args.users} users")
    env, params = fresh_installation(args, port, workdir, __file__,
                                     ["--_create-users", str(args.users)])
    db_url = env["KEYSTEAD_DATABASE_URL"]

    rounds = max(1, args.rounds)
    piece = max(1, round(args.seconds / rounds))  # wrk takes whole seconds
    log_path = workdir / "serve.log"
    say(f"keystead serve: {workers} workers on 127.0.0.1:{port} (log: {log_path})")
    rates: list[float] = []  # raw argon2id verifications/s, one per round
    argon2_cpu_each: list[float] = []
    totals = {form: {"ok": 0, "seconds": 0.0, "problems": {}, "server": 0.0, "db": 0.0,
                     "client": 0.0, "busy": 0.0, "stolen": 0.0, "sessions": 0, "events": 0,
                     "round_rates": []}
              for form in FORMS}
    with keystead_server(env, port, workers, log_path) as server:
        say(f"warm-up: {args.warm_up:g}s of sign-ins, not counted")
        for form in FORMS:
            sign_in_load(form, concurrency, args.users, port,
                         max(1, round(args.warm_up / len(FORMS))), script)
        server_pids = [server.pid, *children_of(server.pid)]
        for r in range(rounds):
            # A-B-C, C-B-A, ...: a machine that speeds up or slows down during the run
            # (another program, thermal limits) weighs on every measurement alike.
            order = ["argon2", *FORMS]
            for what in order if r % 2 == 0 else order[::-1]:
                if what == "argon2":
                    say(f"round {r + 1}/{rounds}: raw argon2id, {raw_procs} processes, "
                        f"{piece:g}s")
                    rate, cpu_each = raw_argon2(params, raw_procs, piece)
                    rates.append(rate)
                    argon2_cpu_each.append(cpu_each)
                    continue
                say(f"round {r + 1}/{rounds}: sign-ins ({FORMS[what]}), {concurrency} "
                    f"clients, {piece:g}s")
                t = totals[what]
                sessions0, events0 = sessions_and_sign_ins(db_url)
                db0 = {p: process_cpu_seconds(p) for p in backend_pids(args.admin_url,
                                                                        args.database)}
                server0 = sum(process_cpu_seconds(p) for p in server_pids)
                busy0, stolen0 = machine_cpu_seconds()
                got = sign_in_load(what, concurrency, args.users, port, piece, script)
                busy1, stolen1 = machine_cpu_seconds()
                t["busy"] += busy1 - busy0
                t["stolen"] += stolen1 - stolen0
                t["server"] += sum(process_cpu_seconds(p) for p in server_pids) - server0
                t["db"] += database_cpu_since(db0, backend_pids(args.admin_url, args.database))
                sessions1, events1 = sessions_and_sign_ins(db_url)
                t["sessions"] += sessions1 - sessions0
                t["events"] += events1 - events0
                t["ok"] += got["ok"]
                t["seconds"] += got["seconds"]
                t["client"] += got["cpu"]
                t["round_rates"].append(got["ok"] / got["seconds"] if got["seconds"] else 0.0)
                for problem, count in got["problems"].items():
                    t["problems"][problem] = t["problems"].get(problem, 0) + count

    raw = sum(rates) / len(rates)
    argon2_cpu = sum(argon2_cpu_each) / len(argon2_cpu_each)
    forms = {}
    for form, t in totals.items():
        seconds = t["seconds"] or piece * rounds
        capacity = cores * seconds
        n = max(t["ok"], 1)
        per_s = t["ok"] / seconds
        cpu = t["server"] + t["db"] + t["client"]
        forms[form] = FormFigures(
            what=FORMS[form], sign_ins=t["ok"], seconds=round(seconds, 2),
            sign_ins_per_s=round(per_s, 1), ratio=round(per_s / raw, 3) if raw else 0.0,
            problems=t["problems"],
            round_ratios=[round(rate / raw_rate, 3) if raw_rate else 0.0
                          for rate, raw_rate in zip(t["round_rates"], rates, strict=True)],
            sessions_stored=t["sessions"], sign_in_events=t["events"],
            cpu_share={
                "server (gunicorn master + workers)": round(t["server"] / capacity, 3),
                "PostgreSQL (bench database backends)": round(t["db"] / capacity, 3),
                "HTTP clients (wrk)": round(t["client"] / capacity, 3),
                "everything else on the machine": round(
                    max(t["busy"] - cpu, 0) / capacity, 3),
                "taken by the host (steal)": round(t["stolen"] / capacity, 3),
                "idle": round(max(capacity - t["busy"] - t["stolen"], 0) / capacity, 3),
            },
            cpu_ms_per_sign_in={
                "server": round(t["server"] / n * 1000, 2),
                "PostgreSQL": round(t["db"] / n * 1000, 2),
                "clients": round(t["client"] / n * 1000, 2),
            },
            cpu_ratio=round(argon2_cpu / (cpu / n), 3) if cpu else 0.0,
        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(), argon2=params,
        workers=workers, concurrency=concurrency, users=args.users,
        seconds=piece * rounds, rounds=rounds,
        argon2_per_round=[round(x, 1) for x in rates], argon2_per_s=round(raw, 1),
        argon2_cpu_ms=round(argon2_cpu * 1000, 2), forms=forms,
        keycloak_sign_ins_per_s=KEYCLOAK_SIGN_INS_PER_VCPU * cores,
    )


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def report(f: Figures) -> str:
    a = f.argon2
    lines = [
        f"machine      {f.cores} cores, {f.machine}, {f.memory_gib} GiB, Python {f.python}",
        f"argon2id     t={a['time_cost']} m={a['memory_kib']} KiB p={a['parallelism']}",
        f"server       keystead serve (gunicorn) {f.workers} workers, PostgreSQL; "
        f"{f.concurrency} clients (wrk), {f.users} users, {f.seconds:g}s of each form "
        f"in {f.rounds} rounds",
        f"argon2id     {f.argon2_per_s:.1f} verifications/s raw on the same cores "
        f"(rounds: {', '.join(f'{x:.1f}' for x in f.argon2_per_round)}); "
        f"{f.argon2_cpu_ms:.1f} ms CPU each",
        f"Keycloak     {KEYCLOAK_SIGN_INS_PER_VCPU}/s per vCPU published sizing -> "
        f"{f.keycloak_sign_ins_per_s}/s on {f.cores} cores",
    ]
    for g in f.forms.values():
        lines += [
            f"--- {g.what} -> 302 /",
            f"sign-ins     {g.sign_ins_per_s:.1f}/s  ({g.sign_ins} in {g.seconds:g}s; "
            f"{g.sign_ins_per_s / f.cores:.1f}/s per core); the database stored "
            f"{g.sessions_stored} sessions and {g.sign_in_events} sign-in events",
            f"ratio        {g.ratio:.3f}  (target >= {TARGET_RATIO}: "
            f"{'met' if g.ratio >= TARGET_RATIO else 'NOT met'})",
            f"by round     {', '.join(f'{x:.3f}' for x in g.round_ratios)} (each round's "
            "rate over the raw rate of the same round)",
            "CPU during the sign-ins (share of cores x seconds):",
            *[f"  {what:40s} {share:6.1%}" for what, share in g.cpu_share.items()],
            "CPU per sign-in: " + ", ".join(
                f"{what} {ms:.2f} ms" for what, ms in g.cpu_ms_per_sign_in.items()),
            f"CPU ratio    {g.cpu_ratio:.3f}  (argon2 CPU / all CPU of a sign-in: the ratio "
            "an idle machine with busy cores would reach)",
        ]
        if g.sessions_stored < g.sign_ins or g.sign_in_events < g.sign_ins:
            lines.append("ERROR        fewer sessions or sign-in events than counted sign-ins")
        other = g.cpu_share.get("everything else on the machine", 0)
        if other > 0.05:
            lines.append(f"WARNING      other programs used {other:.0%} of the CPU during "
                         "these sign-ins: the rates (not the CPU figures) are understated; "
                         "run it again on a quiet machine")
        lines += steal_warning(g.cpu_share["taken by the host (steal)"], "these sign-ins")
        if g.problems:
            lines.append(f"not counted  {g.problems}")
    return "\n".join(lines)


def add_common_arguments(parser: argparse.ArgumentParser, *, raw: str, seconds: int = 20,
                         rounds: int = 4) -> None:
    """The options every benchmark here takes; ``raw`` names the limit it measures."""
    parser.add_argument("--seconds", type=float, default=seconds,
                        help=f"length of each HTTP run; raw {raw} gets as long "
                             f"(default {seconds})")
    parser.add_argument("--workers", type=int, default=0,
                        help=f"gunicorn workers (default: one per core); {raw} runs one process "
                             "per core, or one per worker if fewer")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="client processes (default: 2 per worker)")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"alternate {raw} and the HTTP runs this many times ({rounds})")
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
    # 5 s pieces, 8 of each: the raw argon2id rate of this kind of virtual machine moves
    # by up to a fifth within a minute, and more, shorter alternations average that out.
    add_common_arguments(parser, raw="argon2", seconds=40, rounds=8)
    parser.add_argument("--users", type=int, default=64, help="accounts to sign in (64)")
    run_and_report(parser.parse_args(), bench, report)


if __name__ == "__main__":
    main()
