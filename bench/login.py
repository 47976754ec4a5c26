#!/usr/bin/env python3
"""Password sign-ins per second through HTTP, against raw argon2id on the same cores.

    .venv/bin/python bench/login.py [--seconds 40] [--servers gthread,granian]
                                    [--concurrency N] [--workers N] [--database NAME]

What it does, in one run:

1. creates a fresh PostgreSQL database (``keystead_bench``, dropped first),
   runs ``keystead migrate`` into it and creates ``--users`` accounts with
   known passwords that pass the default policy;
2. starts every web server of ``--servers`` (default both, see
   ``common.server_command``: the one ``keystead serve`` runs is started as
   ``keystead serve``, the other by its own command line), ``--workers`` each
   (default one per core), each on a free port of its own;
3. drives password sign-ins through HTTP, in two forms, each for ``--seconds``
   per server:

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
   threads, default one per server thread so none waits for a client) with a
   small Lua script, because the clients share the cores with the server:
   with Python's ``http.client`` they took about 1 ms of CPU per sign-in;
4. measures, in the same run and on the same cores, raw argon2id
   verifications per second with the server's parameters (read from its
   settings): one process per core (fewer if the server has fewer workers),
   each verifying in a loop, for as long as each form of sign-in ran: the
   most a CPU-bound loop can do on those cores, however many workers the
   server runs. Everything alternates in ``--rounds`` pieces (argon2, then
   each server's page and post, then the same backwards, ...) so a change in
   the machine's speed during the run (another program, thermal limits)
   weighs on all of them and on both servers alike;
5. prints, for each server and form, sign-ins/s, sign-ins/s per core beside
   Keycloak's published sizing, argon2 verifications/s and their ratio (the
   target is at least 0.75: 30 sign-ins/s per core where argon2id does 40),
   where the CPU time went (server, PostgreSQL, clients, anything else on the
   machine) and the CPU per sign-in; then the servers side by side.

The ratio is the point: argon2 is the physical limit of a password sign-in
(it is meant to be slow), so the ratio says how much of the machine the rest
of the sign-in (HTTP, Django, sessions, audit, database) costs. ``--json``
writes the figures for ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # bench/ is not a package: common.py sits beside this file
    WRK_REPORT,
    WRK_THREADS,
    Server,
    Tally,
    add_common_arguments,
    alternating,
    cpu_model,
    fresh_installation,
    machine_line,
    memory_gib,
    repeat_in_window,
    run_and_report,
    run_parallel,
    run_wrk,
    say,
    servers_running,
    setup_run,
    steal_warning,
)

KEYCLOAK_SIGN_INS_PER_VCPU = 15  # Keycloak's sizing guide: 1 vCPU per 15 password logins/s
TARGET_RATIO = 0.75


# --------------------------------------------------------------------------- the accounts


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
        user = User(email=user_email(i), username=user_email(i), given_name="Load",
                    family_name=f"Tester {i}", password=make_password(user_password(i)),
                    password_changed_at=now)
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


# --------------------------------------------------------------------------- the load

# The two forms of a password sign-in the bench counts (see the module docstring).
FORMS = {
    "page": "GET /login/ + POST /login/",
    "post": "POST /login/ with the CSRF cookie held",
}


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

-- Header names are case-insensitive (HTTP/1.1 servers send "Set-Cookie" or "set-cookie");
-- wrk's table keeps them as sent, and the last of a repeated header.
local function header(headers, name)
  for key, value in pairs(headers) do
    if key:lower() == name then
      return value
    end
  end
  return nil
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
    local set = header(headers, "set-cookie") or ""
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
  local set = header(headers, "set-cookie") or ""
  local location = header(headers, "location")
  if status == 302 and location == "/" and set:match("^sessionid=") then
    ok = ok + 1
  else
    problem("POST /login/ " .. status .. " " .. (location or ""))
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


# --------------------------------------------------------------------------- the run


@dataclass
class FormFigures:
    """The figures of one form of sign-in (``FORMS``) through one server."""

    what: str
    sign_ins: int
    seconds: float
    sign_ins_per_s: float
    sign_ins_per_core: float
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
    servers: dict[str, str] = field(default_factory=dict)  # name -> what ran
    forms: dict[str, dict[str, FormFigures]] = field(default_factory=dict)  # server -> form
    keycloak_sign_ins_per_s: int = 0


def form_figures(form: str, t: Tally, sessions: int, events: int, raw: float,
                 raw_per_round: list[float], argon2_cpu: float, cores: int) -> FormFigures:
    capacity = cores * t.seconds
    n = max(t.ok, 1)
    per_s = t.ok / t.seconds if t.seconds else 0.0
    cpu = t.server + t.db + t.client
    return FormFigures(
        what=FORMS[form], sign_ins=t.ok, seconds=round(t.seconds, 2),
        sign_ins_per_s=round(per_s, 1), sign_ins_per_core=round(per_s / cores, 1),
        ratio=round(per_s / raw, 3) if raw else 0.0, problems=t.problems,
        round_ratios=[round(rate / raw_rate, 3) if raw_rate else 0.0
                      for rate, raw_rate in zip(t.round_rates, raw_per_round, strict=True)],
        sessions_stored=sessions, sign_in_events=events,
        cpu_share={
            "server (all its processes)": round(t.server / capacity, 3),
            "PostgreSQL (bench database backends)": round(t.db / capacity, 3),
            "HTTP clients (wrk)": round(t.client / capacity, 3),
            "everything else on the machine": round(t.other() / capacity, 3),
            "taken by the host (steal)": round(t.stolen / capacity, 3),
            "idle": round(max(capacity - t.busy - t.stolen, 0) / capacity, 3),
        },
        cpu_ms_per_sign_in={
            "server": round(t.server / n * 1000, 2),
            "PostgreSQL": round(t.db / n * 1000, 2),
            "clients": round(t.client / n * 1000, 2),
        },
        cpu_ratio=round(argon2_cpu / (cpu / n), 3) if cpu else 0.0,
    )


def bench(args: argparse.Namespace) -> Figures:
    run = setup_run(args)
    script = run.workdir / "sign-in.lua"
    script.write_text(WRK_THREADS + WRK_SCRIPT + WRK_REPORT)
    say(f"database {args.database}: recreate, migrate, {args.users} users")
    env, params = fresh_installation(args, run.workdir, __file__,
                                     ["--_create-users", str(args.users)])
    db_url = env["KEYSTEAD_DATABASE_URL"]

    rates: list[float] = []  # raw argon2id verifications/s, one per round
    argon2_cpu_each: list[float] = []
    tallies = {(name, form): Tally() for name in run.servers for form in FORMS}
    stored = dict.fromkeys(tallies, (0, 0))  # sessions and sign-in events the database got

    def sign_ins(server: Server, form: str, seconds: float) -> dict[str, Any]:
        return sign_in_load(form, run.concurrency, args.users, server.port, seconds, script)

    with servers_running(run.servers, env, run.workers, run.workdir) as servers:
        say(f"warm-up: {args.warm_up:g}s of sign-ins per server, not counted")
        for server in servers.values():
            for form in FORMS:
                sign_ins(server, form, max(1, round(args.warm_up / len(FORMS))))
        steps = ["argon2", *tallies]
        for r, step in alternating(run.rounds, steps):
            if step == "argon2":
                say(f"round {r + 1}/{run.rounds}: raw argon2id, {run.raw_procs} processes, "
                    f"{run.piece:g}s")
                rate, cpu_each = run_parallel(argon2_loop, lambda i: (params,), run.raw_procs,
                                              run.piece)
                rates.append(rate)
                argon2_cpu_each.append(cpu_each)
                continue
            name, form = step
            say(f"round {r + 1}/{run.rounds}: {name}, sign-ins ({FORMS[form]}), "
                f"{run.concurrency} clients, {run.piece:g}s")
            sessions0, events0 = sessions_and_sign_ins(db_url)
            tallies[step].measure(servers[name], args.admin_url, args.database,
                                  lambda s=servers[name], f=form: sign_ins(s, f, run.piece))
            sessions1, events1 = sessions_and_sign_ins(db_url)
            stored[step] = (stored[step][0] + sessions1 - sessions0,
                            stored[step][1] + events1 - events0)
        described = {name: server.description for name, server in servers.items()}

    raw = sum(rates) / len(rates)
    argon2_cpu = sum(argon2_cpu_each) / len(argon2_cpu_each)
    forms: dict[str, dict[str, FormFigures]] = {name: {} for name in run.servers}
    for (name, form), t in tallies.items():
        forms[name][form] = form_figures(form, t, *stored[name, form], raw, rates,
                                         argon2_cpu, run.cores)
    if not args.keep:
        shutil.rmtree(run.workdir, ignore_errors=True)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=run.cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(), argon2=params,
        workers=run.workers, concurrency=run.concurrency, users=args.users,
        seconds=run.piece * run.rounds, rounds=run.rounds,
        argon2_per_round=[round(x, 1) for x in rates], argon2_per_s=round(raw, 1),
        argon2_cpu_ms=round(argon2_cpu * 1000, 2), servers=described, forms=forms,
        keycloak_sign_ins_per_s=KEYCLOAK_SIGN_INS_PER_VCPU * run.cores,
    )


def report(f: Figures) -> str:
    a = f.argon2
    lines = [
        machine_line(f.cores, f.machine, f.memory_gib, f.python),
        f"argon2id     t={a['time_cost']} m={a['memory_kib']} KiB p={a['parallelism']}",
        f"servers      {'; '.join(f.servers.values())}; PostgreSQL; {f.concurrency} clients "
        f"(wrk), {f.users} users, {f.seconds:g}s of each form per server in {f.rounds} "
        "alternating rounds",
        f"argon2id     {f.argon2_per_s:.1f} verifications/s raw on the same cores "
        f"(rounds: {', '.join(f'{x:.1f}' for x in f.argon2_per_round)}); "
        f"{f.argon2_cpu_ms:.1f} ms CPU each",
        f"Keycloak     {KEYCLOAK_SIGN_INS_PER_VCPU}/s per vCPU published sizing -> "
        f"{f.keycloak_sign_ins_per_s}/s on {f.cores} cores",
    ]
    for name, forms in f.forms.items():
        lines.append(f"=== {f.servers[name]}")
        for g in forms.values():
            lines += form_report(g)
    lines.append(f"=== side by side (target: ratio >= {TARGET_RATIO})")
    for form in FORMS:
        for name, forms in f.forms.items():
            g = forms[form]
            vs_keycloak = g.sign_ins_per_core / KEYCLOAK_SIGN_INS_PER_VCPU
            lines.append(
                f"{name:8s} {form:4s}  {g.sign_ins_per_s:6.1f} sign-ins/s  "
                f"{g.sign_ins_per_core:5.1f}/s per core ({vs_keycloak:.1f} x Keycloak's "
                f"{KEYCLOAK_SIGN_INS_PER_VCPU})  ratio {g.ratio:.3f}  "
                f"{'met' if g.ratio >= TARGET_RATIO else 'NOT met'}")
    return "\n".join(lines)


def form_report(g: FormFigures) -> list[str]:
    lines = [
        f"--- {g.what} -> 302 /",
        f"sign-ins     {g.sign_ins_per_s:.1f}/s  ({g.sign_ins} in {g.seconds:g}s; "
        f"{g.sign_ins_per_core:.1f}/s per core, Keycloak {KEYCLOAK_SIGN_INS_PER_VCPU}/s per "
        f"vCPU); the database stored {g.sessions_stored} sessions and {g.sign_in_events} "
        "sign-in events",
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
    return lines


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
