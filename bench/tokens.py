#!/usr/bin/env python3
"""Token grants per second through HTTP, against raw RS256 JWT signing on the same cores.

    .venv/bin/python bench/tokens.py [--seconds 20] [--servers gthread,granian]
                                     [--concurrency N] [--workers N] [--database NAME]

What it does, in one run (the same machinery as ``bench/login.py``, from
``bench/common.py``):

1. creates a fresh PostgreSQL database (``keystead_bench``, dropped first),
   runs ``keystead migrate`` into it and, through the ORM, creates one person,
   a confidential OIDC client (authorization code + refresh token, RS256 ID
   tokens), a confidential client-credentials client, and refresh-token
   chains (an access token with scope ``openid email profile
   offline_access`` and its refresh token, stored the way the toolkit stores
   them: hashed), ``--concurrency`` of them for every run;
2. starts every web server of ``--servers`` (default both; the one
   ``keystead serve`` runs is started as ``keystead serve``, the other by its
   own command line), ``--workers`` each (default one per core);
3. drives ``POST /oauth/token/`` for ``--seconds`` per server with ``wrk`` (C, one
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
   takes; one process per core (per worker if fewer). They alternate in
   ``--rounds`` (raw, then each server's refresh and client credentials, then
   the other way round) so a change in the machine's speed weighs on all of
   them and on both servers alike;
5. prints, for each server, grants/s and grants/s per core for each grant
   beside Keycloak's published sizing (120 refresh or client-credentials
   grants/s per vCPU) with the target of twice that (240/s per core for
   each), raw signatures/s, the two ratios (grants/s ÷ raw signatures/s) and
   where the CPU went; then the servers side by side.

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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # bench/ is not a package: common.py sits beside this file
    WRK_REPORT,
    WRK_THREADS,
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

KEYCLOAK_GRANTS_PER_VCPU = 120  # Keycloak's sizing guide: refresh / client-credentials grants
TARGET_PER_CORE = 2 * KEYCLOAK_GRANTS_PER_VCPU  # refresh and client credentials alike
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

KINDS = {"refresh": "refresh", "cc": "client credentials"}


@dataclass
class ServerFigures:
    """The figures of one server under test."""

    server: str  # what ran
    refresh_per_s: float
    refresh_per_core: float
    cc_per_s: float
    cc_per_core: float
    refresh_ratio: float  # grants/s / raw signatures/s
    cc_ratio: float
    problems: dict[str, dict[str, int]] = field(default_factory=dict)
    cpu_share: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_ms_per_grant: dict[str, dict[str, float]] = field(default_factory=dict)


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
    seconds: float  # per kind of grant and server, and for raw signing
    rounds: int
    sign_per_round: list[float]
    sign_per_s: float
    sign_cpu_ms: float
    keycloak_per_s: int
    servers: dict[str, ServerFigures] = field(default_factory=dict)


def server_figures(described: str, tallies: dict[str, Tally], raw: float,
                   cores: int) -> ServerFigures:
    rate, share, per_grant = {}, {}, {}
    for kind, t in tallies.items():
        rate[kind] = t.ok / t.seconds if t.seconds else 0.0  # as wrk timed them
        capacity = cores * t.seconds
        share[kind] = {
            "server": round(t.server / capacity, 3),
            "PostgreSQL": round(t.db / capacity, 3),
            "clients": round(t.client / capacity, 3),
            "other": round(t.other() / capacity, 3),
            "steal": round(t.stolen / capacity, 3),
            "idle": round(max(capacity - t.busy - t.stolen, 0) / capacity, 3),
        }
        n = max(t.ok, 1)
        per_grant[kind] = {"server": round(t.server / n * 1000, 2),
                           "PostgreSQL": round(t.db / n * 1000, 2),
                           "clients": round(t.client / n * 1000, 2)}
    return ServerFigures(
        server=described,
        refresh_per_s=round(rate["refresh"], 1),
        refresh_per_core=round(rate["refresh"] / cores, 1),
        cc_per_s=round(rate["cc"], 1), cc_per_core=round(rate["cc"] / cores, 1),
        refresh_ratio=round(rate["refresh"] / raw, 3) if raw else 0.0,
        cc_ratio=round(rate["cc"] / raw, 3) if raw else 0.0,
        problems={kind: t.problems for kind, t in tallies.items() if t.problems},
        cpu_share=share, cpu_ms_per_grant=per_grant)


def bench(args: argparse.Namespace) -> Figures:
    run = setup_run(args)
    # Fresh chains for every refresh run: when wrk stops, a refresh may be in flight whose
    # answer (the chain's next token) it never reads, and the chain's last token is spent.
    chains = run.concurrency * (run.rounds + 1) * len(run.servers)
    say(f"database {args.database}: recreate, migrate, 2 clients, {chains} token chains")
    env, setup = fresh_installation(args, run.workdir, __file__,
                                    ["--_create-clients", str(chains)])
    pem = (run.workdir / "data" / "oidc_signing_key.pem").read_text()
    unused: list[str] = setup["refresh_tokens"]
    script = run.workdir / "tokens.lua"
    script.write_text(WRK_THREADS + WRK_SCRIPT + WRK_REPORT)
    say(f"client secrets hashed with {setup['secret_hasher']}")
    sign_rates: list[float] = []
    sign_cpu: list[float] = []
    tallies = {name: {kind: Tally() for kind in KINDS} for name in run.servers}

    def drive(port: int, kind: str, seconds: float) -> dict:
        client = setup["refresh_client" if kind == "refresh" else "cc_client"]
        chains = [unused.pop() for _ in range(run.concurrency)] if kind == "refresh" else \
            ["-"] * run.concurrency
        return grant_load(kind, port, client, chains, seconds, script)

    with servers_running(run.servers, env, run.workers, run.workdir) as servers:
        say(f"warm-up: {args.warm_up:g}s of each grant per server, not counted")
        for server in servers.values():
            for kind in KINDS:
                drive(server.port, kind, max(1.0, args.warm_up / 2))
        steps = ["sign", *((name, kind) for name in run.servers for kind in KINDS)]
        for r, step in alternating(run.rounds, steps):
            if step == "sign":
                say(f"round {r + 1}/{run.rounds}: raw RS256 signing, {run.raw_procs} "
                    f"processes, {run.piece:g}s")
                rate, cpu_each = run_parallel(sign_loop, lambda i: (pem,), run.raw_procs,
                                              run.piece)
                sign_rates.append(rate)
                sign_cpu.append(cpu_each)
                continue
            name, kind = step
            say(f"round {r + 1}/{run.rounds}: {name}, {KINDS[kind]} grants, "
                f"{run.concurrency} clients, {run.piece:g}s")
            port = servers[name].port
            tallies[name][kind].measure(servers[name], args.admin_url, args.database,
                                        lambda p=port, k=kind: drive(p, k, run.piece))
        described = {name: server.description for name, server in servers.items()}

    raw = sum(sign_rates) / len(sign_rates)
    if not args.keep:
        shutil.rmtree(run.workdir, ignore_errors=True)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=run.cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(),
        key=setup["key"], secret_hasher=setup["secret_hasher"], workers=run.workers,
        concurrency=run.concurrency, seconds=run.piece * run.rounds, rounds=run.rounds,
        sign_per_round=[round(x, 1) for x in sign_rates], sign_per_s=round(raw, 1),
        sign_cpu_ms=round(sum(sign_cpu) / len(sign_cpu) * 1000, 3),
        keycloak_per_s=KEYCLOAK_GRANTS_PER_VCPU * run.cores,
        servers={name: server_figures(described[name], t, raw, run.cores)
                 for name, t in tallies.items()},
    )


def met(per_core: float) -> str:
    return "met" if per_core >= TARGET_PER_CORE else "NOT met"


def report(f: Figures) -> str:
    lines = [
        machine_line(f.cores, f.machine, f.memory_gib, f.python),
        f"servers      {'; '.join(s.server for s in f.servers.values())}; PostgreSQL; "
        f"{f.concurrency} clients; {f.seconds:g}s of each grant per server in {f.rounds} "
        "alternating rounds",
        f"signing key  {f.key} (RS256); client secrets hashed with {f.secret_hasher}",
        f"RS256 raw    {f.sign_per_s:.1f} signatures/s on the same cores "
        f"(rounds: {', '.join(f'{x:.1f}' for x in f.sign_per_round)}; "
        f"{f.sign_cpu_ms:.2f} ms CPU each)",
        f"Keycloak     {KEYCLOAK_GRANTS_PER_VCPU}/s per vCPU published sizing -> "
        f"{f.keycloak_per_s}/s on {f.cores} cores",
    ]
    for s in f.servers.values():
        lines += [
            f"=== {s.server}",
            f"refresh      {s.refresh_per_s:.1f} grants/s, {s.refresh_per_core:.1f}/s per core "
            f"(each signs an ID token; Keycloak {KEYCLOAK_GRANTS_PER_VCPU}/s per vCPU; "
            f"target >= {TARGET_PER_CORE}/s per core: {met(s.refresh_per_core)})",
            f"client cred. {s.cc_per_s:.1f} grants/s, {s.cc_per_core:.1f}/s per core "
            f"(Keycloak {KEYCLOAK_GRANTS_PER_VCPU}/s per vCPU; target >= {TARGET_PER_CORE}/s "
            f"per core: {met(s.cc_per_core)})",
            f"ratios       refresh {s.refresh_ratio:.3f}, client credentials {s.cc_ratio:.3f} "
            "(grants/s / raw signatures/s)",
        ]
        for kind, name in KINDS.items():
            share, per = s.cpu_share[kind], s.cpu_ms_per_grant[kind]
            lines.append(f"CPU {name}: " + ", ".join(f"{k} {v:.1%}" for k, v in share.items())
                         + "; per grant " + ", ".join(f"{k} {v:.2f} ms" for k, v in per.items()))
            if share["other"] > 0.05:
                lines.append(f"WARNING      other programs used {share['other']:.0%} of the "
                             f"CPU during the {name} grants: rates understated")
            lines += steal_warning(share["steal"], f"the {name} grants")
        if s.problems:
            lines.append(f"not counted  {s.problems}")
    lines.append(f"=== side by side (target: >= {TARGET_PER_CORE}/s per core)")
    for kind, what in KINDS.items():
        for name, s in f.servers.items():
            per_s, per_core, ratio = ((s.refresh_per_s, s.refresh_per_core, s.refresh_ratio)
                                      if kind == "refresh" else
                                      (s.cc_per_s, s.cc_per_core, s.cc_ratio))
            lines.append(
                f"{name:8s} {what:18s} {per_s:7.1f} grants/s  {per_core:6.1f}/s per core "
                f"({per_core / KEYCLOAK_GRANTS_PER_VCPU:.1f} x Keycloak's "
                f"{KEYCLOAK_GRANTS_PER_VCPU})  ratio {ratio:.3f}  {met(per_core)}")
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
