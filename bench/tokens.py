#!/usr/bin/env python3
"""Token grants per second through HTTP, against raw RS256 JWT signing on the same cores.

    .venv/bin/python bench/tokens.py [--seconds 20] [--concurrency N] [--workers N]

What it does, in one run (the same machinery as ``bench/login.py``, whose
helpers it imports):

1. creates a fresh PostgreSQL database (``keystead_bench``, dropped first),
   runs ``keystead migrate`` into it and, through the ORM, creates one person,
   a confidential OIDC client (authorization code + refresh token, RS256 ID
   tokens), a confidential client-credentials client, and refresh-token
   chains (an access token with scope ``openid email profile
   offline_access`` and its refresh token, stored the way the toolkit stores
   them: hashed), ``--concurrency`` of them for every run;
2. starts ``keystead serve`` (gunicorn, ``--workers``, default one per core);
3. drives ``POST /oauth/token/`` for ``--seconds`` with ``wrk`` (C, one
   connection per thread, so the load generator takes little of the shared
   cores; Debian package ``wrk``), in two kinds of pieces: *refresh*
   (``grant_type=refresh_token``: each thread follows its own chain, sending
   the refresh token the previous answer carried, since rotation makes the
   previous one invalid; every run starts on fresh chains, because the answer
   to a request still in flight when wrk stops is never read) and *client
   credentials* (``grant_type=client_credentials``). Both authenticate the
   client with HTTP Basic, as a confidential client does. Only a ``200``
   counts, and for a refresh only one that carries a new ``id_token`` and
   ``refresh_token``;
4. measures, in the same run and on the same cores, raw RS256 JWT signing of
   an ID-token-shaped payload with the server's own key: JSON, base64url and
   one RSA signature with ``cryptography``, the least work a signed ID token
   takes; one process per core (per worker if fewer). The three alternate in
   ``--rounds`` (raw, refresh, client credentials, then the other way round)
   so a change in the machine's speed weighs on all of them;
5. prints grants/s and grants/s per core for each grant, raw signatures/s, the
   two ratios (grants/s ÷ raw signatures/s), where the CPU went, and
   Keycloak's published sizing (120 refresh or client-credentials grants/s per
   vCPU) with the target of three times that: 360 refresh grants/s per core.

A refresh grant of an OIDC client signs one ID token (one RS256 signature),
so raw signing is its physical limit; a client-credentials grant signs
nothing (its access token is an opaque random string). ``--json`` writes the
figures for ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from login import (  # bench/ is not a package: login.py sits beside this file
    WRK_REPORT,
    WRK_THREADS,
    add_common_arguments,
    backend_pids,
    children_of,
    cpu_model,
    database_cpu_since,
    free_port,
    fresh_installation,
    keystead_server,
    machine_cpu_seconds,
    memory_gib,
    process_cpu_seconds,
    raw_processes,
    repeat_in_window,
    run_and_report,
    run_parallel,
    run_wrk,
    say,
    steal_warning,
    usable_cores,
)

KEYCLOAK_GRANTS_PER_VCPU = 120  # Keycloak's sizing guide: refresh / client-credentials grants
TARGET_PER_CORE = 3 * KEYCLOAK_GRANTS_PER_VCPU
SCOPE = "openid email profile offline_access"
REDIRECT_URI = "http://127.0.0.1/callback"


# --------------------------------------------------------------------------- the database


def create_clients(chains: int) -> None:
    """(Runs in a subprocess with the bench database's environment.) Clients and tokens.

    Prints JSON: the two clients' ids and secrets, one raw refresh token per chain,
    the signing key's size and the client-secret hasher in use.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keystead.settings")
    import django

    django.setup()
    import uuid
    from datetime import timedelta

    from django.contrib.auth.hashers import identify_hasher
    from django.utils import timezone
    from jwcrypto import jwk
    from oauth2_provider.models import (
        AccessToken,
        Application,
        RefreshToken,
        set_token_value,
    )
    from oauth2_provider.settings import oauth2_settings

    from keystead.directory.models import User

    user = User.objects.create(email="tokens@bench.example", given_name="Token",
                               family_name="Bench", password_changed_at=timezone.now())
    refresh_secret = secrets.token_urlsafe(48)
    refresh_app = Application(
        name="bench web app", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI, algorithm=Application.RS256_ALGORITHM,
        client_secret=refresh_secret, skip_authorization=True)
    refresh_app.save()  # the secret is hashed on save, with CLIENT_SECRET_HASHER
    cc_secret = secrets.token_urlsafe(48)
    cc_app = Application(
        name="bench service", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=cc_secret)
    cc_app.save()

    tokens = []
    expires = timezone.now() + timedelta(minutes=10)
    for _ in range(chains):
        access = AccessToken(user=user, application=refresh_app, scope=SCOPE, expires=expires)
        set_token_value(access, secrets.token_urlsafe(30))
        access.save()
        raw = secrets.token_urlsafe(30)
        refresh = RefreshToken(user=user, application=refresh_app, access_token=access,
                               token_family=uuid.uuid4())
        set_token_value(refresh, raw)
        refresh.save()
        tokens.append(raw)
    key = jwk.JWK.from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY.encode())
    print(json.dumps({
        "refresh_client": [refresh_app.client_id, refresh_secret],
        "cc_client": [cc_app.client_id, cc_secret],
        "refresh_tokens": tokens,
        "key": f"RSA {key.get_op_key('sign').key_size} bit",
        "secret_hasher": identify_hasher(refresh_app.client_secret).algorithm,
    }))


# --------------------------------------------------------------------------- the load

# wrk (C, one connection per thread) drives the grants, so the load generator's CPU,
# which shares the cores with the server, stays small. Each thread is one client with
# one refresh-token chain: every refresh answer carries the next refresh token, which
# the thread sends next (rotation makes the previous one invalid).
WRK_SCRIPT = r"""
local kind, auth, token

function init(args)
  kind, auth = args[1], args[2]
  token = args[3 + id]
end

local function problem(what)
  problems[what] = (problems[what] or 0) + 1
end

function request()
  local body = "grant_type=client_credentials"
  if kind == "refresh" then
    body = "grant_type=refresh_token&refresh_token=" .. token
  end
  return wrk.format("POST", "/oauth/token/", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    problem(status .. " " .. (body:match('"error": *"([^"]+)"') or ""))
    return
  end
  if kind == "refresh" then
    local next_token = body:match('"refresh_token": *"([^"]+)"')
    if next_token == nil or body:match('"id_token": *"[^"]+"') == nil then
      problem("200 without a refresh_token or id_token")
      return
    end
    token = next_token  -- counted or not, the chain moves on
  elseif body:match('"access_token": *"[^"]+"') == nil then
    problem("200 without an access_token")
    return
  end
  ok = ok + 1
end
"""


def basic(client: list[str]) -> str:
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


def grant_load(kind: str, port: int, client: list[str], chains: list[str], seconds: float,
               script: Path) -> dict:
    """One piece of the run: one connection (and thread) per chain (see ``run_wrk``)."""
    return run_wrk(script, f"http://127.0.0.1:{port}/oauth/token/", len(chains), seconds,
                   [kind, basic(client), *chains])


def sign_loop(pem: str, start: float, stop: float, out: mp.Queue) -> None:
    """Raw RS256 JWTs of an ID-token-shaped payload: JSON, base64url, one RSA signature
    (PKCS #1 v1.5, SHA-256) with ``cryptography`` — the least work a signed ID token
    takes, and what Keystead's ``id_tokens.sign`` does."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    now = int(time.time())
    claims = {
        "aud": "x" * 40, "iat": now, "at_hash": "y" * 22, "sub": "1",
        "email": "tokens@bench.example", "email_verified": True, "given_name": "Token",
        "family_name": "Bench", "name": "Token Bench", "password_changed_at": now,
        "iss": "http://127.0.0.1:8000", "exp": now + 600, "auth_time": now,
        "jti": "0" * 36,
    }
    header = {"typ": "JWT", "alg": "RS256", "kid": "k" * 43}

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    def sign() -> str:
        signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + b64(signature)).decode()

    repeat_in_window(sign, start, stop, out)


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    date: str
    machine: str
    cores: int
    memory_gib: float
    python: str
    key: str
    secret_hasher: str
    workers: int
    concurrency: int
    seconds: float  # per kind of grant, and for raw signing
    rounds: int
    refresh_per_s: float
    refresh_per_core: float
    cc_per_s: float
    cc_per_core: float
    sign_per_round: list[float]
    sign_per_s: float
    refresh_ratio: float
    cc_ratio: float
    problems: dict[str, dict[str, int]] = field(default_factory=dict)
    cpu_share: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_ms_per_grant: dict[str, dict[str, float]] = field(default_factory=dict)
    sign_cpu_ms: float = 0.0
    keycloak_per_s: int = 0


def bench(args: argparse.Namespace) -> Figures:
    cores = usable_cores()
    workers = args.workers or cores
    concurrency = args.concurrency or 2 * workers
    raw_procs = raw_processes(workers, cores)
    workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    port = free_port()
    rounds = max(1, args.rounds)
    # Fresh chains for every refresh run: when wrk stops, a refresh may be in flight whose
    # answer (the chain's next token) it never reads, and the chain's last token is spent.
    say(f"database {args.database}: recreate, migrate, 2 clients, "
        f"{concurrency * (rounds + 1)} token chains")
    env, setup = fresh_installation(args, port, workdir, __file__,
                                    ["--_create-clients", str(concurrency * (rounds + 1))])
    pem = (workdir / "data" / "oidc_signing_key.pem").read_text()
    unused: list[str] = setup["refresh_tokens"]

    piece = max(1, round(args.seconds / rounds))  # wrk takes whole seconds
    script = workdir / "tokens.lua"
    script.write_text(WRK_THREADS + WRK_SCRIPT + WRK_REPORT)
    log_path = workdir / "serve.log"
    say(f"keystead serve: {workers} workers on 127.0.0.1:{port} (log: {log_path}); "
        f"client secrets hashed with {setup['secret_hasher']}")
    sign_rates: list[float] = []
    sign_cpu: list[float] = []
    kinds = ("refresh", "cc")
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    busy = dict.fromkeys(kinds, 0.0)
    stolen = dict.fromkeys(kinds, 0.0)
    server_cpu = dict.fromkeys(kinds, 0.0)
    db_cpu = dict.fromkeys(kinds, 0.0)

    def drive(kind: str, seconds: float) -> tuple[dict, float, float]:
        """The grants' results, and the machine's busy and stolen CPU seconds meanwhile."""
        client = setup["refresh_client" if kind == "refresh" else "cc_client"]
        busy0, stolen0 = machine_cpu_seconds()
        chains = [unused.pop() for _ in range(concurrency)] if kind == "refresh" else \
            ["-"] * concurrency
        got = grant_load(kind, port, client, chains, seconds, script)
        busy1, stolen1 = machine_cpu_seconds()
        return got, busy1 - busy0, stolen1 - stolen0

    with keystead_server(env, port, workers, log_path) as server:
        say(f"warm-up: {args.warm_up:g}s of each grant, not counted")
        for kind in kinds:
            drive(kind, max(1.0, args.warm_up / 2))
        server_pids = [server.pid, *children_of(server.pid)]
        order = ("sign", "refresh", "cc")
        for r in range(rounds):
            for what in order if r % 2 == 0 else order[::-1]:
                if what == "sign":
                    say(f"round {r + 1}/{rounds}: raw RS256 signing, {raw_procs} processes, "
                        f"{piece:g}s")
                    got, _, _ = run_parallel(sign_loop, lambda i: (pem,), raw_procs, piece)
                    done = sum(g["done"] for g in got)
                    sign_rates.append(done / piece)
                    sign_cpu.append(sum(g["cpu"] for g in got) / max(done, 1))
                    continue
                say(f"round {r + 1}/{rounds}: {what} grants, {concurrency} clients, {piece:g}s")
                db0 = {p: process_cpu_seconds(p)
                       for p in backend_pids(args.admin_url, args.database)}
                server0 = sum(process_cpu_seconds(p) for p in server_pids)
                got, busy_here, stolen_here = drive(what, piece)
                server_cpu[what] += sum(process_cpu_seconds(p) for p in server_pids) - server0
                db_cpu[what] += database_cpu_since(
                    db0, backend_pids(args.admin_url, args.database))
                busy[what] += busy_here
                stolen[what] += stolen_here
                results[what].append(got)

    seconds = piece * rounds
    capacity = cores * seconds
    raw = sum(sign_rates) / len(sign_rates)
    rate, problems, share, per_grant = {}, {}, {}, {}
    for kind in kinds:
        count = sum(r["ok"] for r in results[kind])
        rate[kind] = count / sum(r["seconds"] for r in results[kind])  # as wrk timed them
        problems[kind] = {}
        for r in results[kind]:
            for what, n in r["problems"].items():
                problems[kind][what] = problems[kind].get(what, 0) + n
        client_cpu = sum(r["cpu"] for r in results[kind])
        share[kind] = {
            "server": round(server_cpu[kind] / capacity, 3),
            "PostgreSQL": round(db_cpu[kind] / capacity, 3),
            "clients": round(client_cpu / capacity, 3),
            "other": round(max(busy[kind] - server_cpu[kind] - db_cpu[kind] - client_cpu, 0)
                           / capacity, 3),
            "steal": round(stolen[kind] / capacity, 3),
            "idle": round(max(capacity - busy[kind] - stolen[kind], 0) / capacity, 3),
        }
        n = max(count, 1)
        per_grant[kind] = {"server": round(server_cpu[kind] / n * 1000, 2),
                           "PostgreSQL": round(db_cpu[kind] / n * 1000, 2),
                           "clients": round(client_cpu / n * 1000, 2)}
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(),
        key=setup["key"], secret_hasher=setup["secret_hasher"], workers=workers,
        concurrency=concurrency, seconds=seconds, rounds=rounds,
        refresh_per_s=round(rate["refresh"], 1),
        refresh_per_core=round(rate["refresh"] / cores, 1),
        cc_per_s=round(rate["cc"], 1), cc_per_core=round(rate["cc"] / cores, 1),
        sign_per_round=[round(x, 1) for x in sign_rates], sign_per_s=round(raw, 1),
        refresh_ratio=round(rate["refresh"] / raw, 3) if raw else 0.0,
        cc_ratio=round(rate["cc"] / raw, 3) if raw else 0.0,
        problems={k: v for k, v in problems.items() if v},
        cpu_share=share, cpu_ms_per_grant=per_grant,
        sign_cpu_ms=round(sum(sign_cpu) / len(sign_cpu) * 1000, 3),
        keycloak_per_s=KEYCLOAK_GRANTS_PER_VCPU * cores,
    )


def report(f: Figures) -> str:
    met = "met" if f.refresh_per_core >= TARGET_PER_CORE else "NOT met"
    lines = [
        f"machine      {f.cores} cores, {f.machine}, {f.memory_gib} GiB, Python {f.python}",
        f"server       keystead serve (gunicorn) {f.workers} workers, PostgreSQL; "
        f"{f.concurrency} clients; {f.seconds:g}s of each grant in {f.rounds} rounds",
        f"signing key  {f.key} (RS256); client secrets hashed with {f.secret_hasher}",
        f"refresh      {f.refresh_per_s:.1f} grants/s, {f.refresh_per_core:.1f}/s per core "
        f"(each signs an ID token; target >= {TARGET_PER_CORE}/s per core: {met})",
        f"client cred. {f.cc_per_s:.1f} grants/s, {f.cc_per_core:.1f}/s per core",
        f"RS256 raw    {f.sign_per_s:.1f} signatures/s on the same cores "
        f"(rounds: {', '.join(f'{x:.1f}' for x in f.sign_per_round)}; "
        f"{f.sign_cpu_ms:.2f} ms CPU each)",
        f"ratios       refresh {f.refresh_ratio:.3f}, client credentials {f.cc_ratio:.3f} "
        "(grants/s / raw signatures/s)",
        f"Keycloak     {KEYCLOAK_GRANTS_PER_VCPU}/s per vCPU published sizing -> "
        f"{f.keycloak_per_s}/s on {f.cores} cores",
    ]
    for kind, name in (("refresh", "refresh"), ("cc", "client credentials")):
        s, c = f.cpu_share[kind], f.cpu_ms_per_grant[kind]
        lines.append(f"CPU {name}: " + ", ".join(f"{k} {v:.1%}" for k, v in s.items())
                     + "; per grant " + ", ".join(f"{k} {v:.2f} ms" for k, v in c.items()))
        if s["other"] > 0.05:
            lines.append(f"WARNING      other programs used {s['other']:.0%} of the CPU "
                         f"during the {name} grants: rates understated")
        lines += steal_warning(s["steal"], f"the {name} grants")
    if f.problems:
        lines.append(f"not counted  {f.problems}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--_create-clients":
        create_clients(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, raw="signing")
    run_and_report(parser.parse_args(), bench, report)


if __name__ == "__main__":
    main()
