"""Provisioning throughput: accounts with passwords pushed to slapd through the queue,
against the same LDAP adds and password sets done directly with python-ldap.

One run:

1. starts a slapd of its own (mdb without a disk sync per write, on a free loopback
   port) and a fresh PostgreSQL database for Keystead (migrated), with one LDAP system on that slapd
   (passwords through the Password Modify extended operation, RFC 3062);
2. **raw**: adds N entries and sets each one's password with RFC 3062, directly
   with python-ldap (the faster Python client, docs/performance.md), over as many
   connections, in as many processes, as there are queue workers;
3. **queued**: starts that many ``keystead worker`` processes, queues N account
   creations with a password each (committed at once), and times from the commit
   until every operation is executed and archived;
4. repeats the raw run after the queued one (the faster of the two counts, so a
   slower machine in one phase cannot flatter the ratio), and prints accounts/s,
   the per-core rate, the ratio queued / raw, and where the CPU went.

Target: a ratio of at least 0.5.

    .venv/bin/python bench/provision.py            # 10,000 accounts, 2 workers
    .venv/bin/python bench/provision.py --accounts 2000 --workers 4
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    VENV_BIN,
    add_database_arguments,
    backend_pids,
    cpu_model,
    database_cpu_since,
    database_url,
    free_port,
    machine_cpu_seconds,
    machine_line,
    memory_gib,
    process_cpu_seconds,
    recreate_database,
    say,
    steal_warning,
    usable_cores,
)

SLAPD = "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
BASE_DN = "dc=bench,dc=test"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PASSWORD = "bench-root-secret"
TARGET_RATIO = 0.5
#: Measured on this kind of machine (DESIGN.md, "Libraries"): one connection, add +
#: RFC 3062 password set per account, slapd (mdb) on loopback.
CLIENT_FIGURES = "python-ldap 1,364/s, ldap3 679/s (one connection, DESIGN.md)"


# --------------------------------------------------------------------------- slapd


@dataclass
class Slapd:
    root: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"


def start_slapd() -> Slapd:
    root = Path(tempfile.mkdtemp(prefix="keystead-bench-slapd-"))
    (root / "data").mkdir()
    schemas = "\n".join(f"include {SCHEMA_DIR / n}.schema"
                        for n in ("core", "cosine", "nis", "inetorgperson"))
    (root / "slapd.conf").write_text(f"""\
{schemas}
modulepath {MODULE_DIR}
moduleload back_mdb.la
pidfile {root}/slapd.pid

database mdb
maxsize 2147483648
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {root}/data
# No sync to disk after each write: the limit measured is then LDAP and slapd's CPU, not
# this disk's flush latency, which would slow the raw run and the queued one alike and
# hide the queue's own cost.
dbnosync
index objectClass,uid eq
""")
    port = free_port()
    # Our own server binary with fixed arguments and no shell:
    process = subprocess.Popen([SLAPD, "-d", "0", "-f", str(root / "slapd.conf"),  # noqa: S603
                                "-h", f"ldap://127.0.0.1:{port}/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Slapd(root, port, process)
    import ldap

    for _ in range(200):
        try:
            conn = ldap.initialize(server.url)
            conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
            conn.add_s(BASE_DN, [("objectClass", [b"dcObject", b"organization"]),
                                 ("dc", [b"bench"]), ("o", [b"Bench"])])
            conn.unbind_s()
            return server
        except ldap.SERVER_DOWN:
            if process.poll() is not None:
                raise RuntimeError("slapd exited at start") from None
            time.sleep(0.05)
    raise RuntimeError("slapd did not answer")


def add_ou(server: Slapd, name: str) -> str:
    import ldap

    dn = f"ou={name},{BASE_DN}"
    conn = ldap.initialize(server.url)
    conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    conn.add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [name.encode()])])
    conn.unbind_s()
    return dn


def person(i: int) -> dict[str, str]:
    """The attributes of account ``i``: the same in the raw run and the queued one."""
    return {"cn": f"Person {i}", "sn": f"P{i}", "mail": f"p{i}@bench.test"}


def password(i: int) -> str:
    return f"Bench-Pass-{i:06d}-x"


# --------------------------------------------------------------------------- raw


def raw_loop(url: str, base: str, numbers: list[int], out: mp.Queue) -> None:
    """Add each entry and set its password (RFC 3062), as the LDAP connector does."""
    import ldap
    import ldap.modlist

    conn = ldap.initialize(url)
    conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
    out.put(("ready", os.getpid()))
    for i in numbers:
        dn = f"uid=u{i},{base}"
        entry = {k: [v.encode()] for k, v in person(i).items()}
        entry["objectClass"] = [b"inetOrgPerson"]
        entry["uid"] = [f"u{i}".encode()]
        conn.add_s(dn, ldap.modlist.addModlist(entry))
        conn.passwd_s(dn, None, password(i))
    conn.unbind_s()
    out.put(("done", os.getpid()))


def raw_rate(server: Slapd, accounts: int, connections: int, label: str) -> float:
    base = add_ou(server, label)
    out: mp.Queue = mp.Queue()
    shares = [list(range(k, accounts, connections)) for k in range(connections)]
    procs = [mp.Process(target=raw_loop, args=(server.url, base, share, out))
             for share in shares]
    for proc in procs:
        proc.start()
    for _ in procs:
        out.get()  # each is connected and bound
    start = time.perf_counter()
    for _ in procs:
        out.get()
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return accounts / elapsed


# --------------------------------------------------------------------------- queued


def setup_system(url: str, base: str, pipeline: int) -> None:
    """Run inside Keystead's environment: the LDAP system the workers write to."""
    import django

    django.setup()
    from keystead.provisioning.models import System
    from keystead.secret import Secret

    system = System(name="bench-ldap", connector="ldap",
                    settings={"url": url, "bind_dn": ROOT_DN, "base_dn": base,
                              "name_attribute": "uid", "password_mode": "exop",
                              "pipeline": pipeline})
    system.set_secrets({"bind_password": Secret(ROOT_PASSWORD)})
    system.save()
    print(json.dumps({"system": system.pk}))


def queue_accounts(accounts: int, analyze: bool = False) -> None:
    """Run inside Keystead's environment: queue every creation in one transaction (so the
    workers see them at once) and print the commit's wall-clock time.

    With ``analyze``, refresh PostgreSQL's statistics of the queue table right after the
    commit, as autovacuum does on its own within a minute or so (``autovacuum_naptime``):
    until then the planner believes the table as small as when it was last analyzed."""
    import django

    django.setup()
    from django.db import connection, transaction

    from keystead.provisioning import services
    from keystead.provisioning.models import Operation, System
    from keystead.secret import Secret

    system = System.objects.get(name="bench-ldap")
    started = time.time()
    with transaction.atomic():
        for i in range(accounts):
            services.queue_account_creation(system, f"u{i}", attributes=person(i),
                                            password=Secret(password(i)))
    committed = time.time()
    if analyze:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Operation._meta.db_table}")
    print(json.dumps({"committed": committed, "queue_seconds": committed - started}))


def archived(env: dict[str, str]) -> int:
    import psycopg

    with psycopg.connect(env["KEYSTEAD_DATABASE_URL"], autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM provisioning_archivedoperation "
                            "WHERE state = 'executed'").fetchone()[0]


def open_problems(env: dict[str, str]) -> str:
    import psycopg

    with psycopg.connect(env["KEYSTEAD_DATABASE_URL"], autocommit=True) as conn:
        rows = conn.execute("SELECT state, count(*), max(last_error) FROM "
                            "provisioning_operation WHERE attempts > 0 AND state <> 'running' "
                            "GROUP BY state").fetchall()
    return "; ".join(f"{state} {count}: {error[:200]}" for state, count, error in rows)


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    date: str
    machine: str
    cores: int
    memory_gib: float
    python: str
    accounts: int
    workers: int
    batch: int
    pipeline: int
    analyzed: bool
    queue_seconds: float
    queued_per_s: float
    raw_per_round: list[float] = field(default_factory=list)
    raw_per_s: float = 0.0
    ratio: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    steal_share: float = 0.0


def bench(args: argparse.Namespace) -> Figures:
    cores = usable_cores()
    workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-"))
    server = start_slapd()
    workers: list[subprocess.Popen] = []
    try:
        say(f"slapd on {server.url}; raw run 1 ({args.accounts} accounts, "
            f"{args.workers} connections)")
        raw = [raw_rate(server, args.accounts, args.workers, "raw1")]
        env = {**os.environ,
               "KEYSTEAD_DATABASE_URL": database_url(args.admin_url, args.database),
               "KEYSTEAD_DATA_DIR": str(workdir / "data"),
               "KEYSTEAD_SECRET_KEY": os.urandom(32).hex(),
               "KEYSTEAD_DEBUG": "false", "KEYSTEAD_LOG_LEVEL": "WARNING",
               "DJANGO_SETTINGS_MODULE": "keystead.settings"}
        recreate_database(args.admin_url, args.database)
        subprocess.run([str(VENV_BIN / "keystead"), "migrate"], env=env,  # noqa: S603
                       check=True, stdout=subprocess.DEVNULL)
        base = add_ou(server, "queued")
        subprocess.run([sys.executable, __file__, "--_setup", server.url, base,  # noqa: S603
                        str(args.pipeline)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        workers = [subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [str(VENV_BIN / "keystead"), "worker", "--batch", str(args.batch),
             "--idle", "0.05", "--id", f"bench-{n}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for n in range(args.workers)]
        say(f"queueing {args.accounts} account creations for {args.workers} workers")
        made = subprocess.run([sys.executable, __file__, "--_queue",  # noqa: S603
                               str(args.accounts), "analyze" if args.analyze else ""],
                              env=env, check=True,
                              capture_output=True, text=True)
        # CPU is counted from here: the queueing script has ended (the workers started
        # at its commit, a few milliseconds earlier, so their CPU is slightly undercounted).
        pids = backend_pids(args.admin_url, args.database)
        db_before = {pid: process_cpu_seconds(pid) for pid in pids}
        cpu_before = {"slapd": process_cpu_seconds(server.process.pid),
                      "workers": sum(process_cpu_seconds(w.pid) for w in workers)}
        busy0, steal0 = machine_cpu_seconds()
        queued = json.loads(made.stdout.strip().splitlines()[-1])
        while (done := archived(env)) < args.accounts:
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker exited early")
            if time.time() - queued["committed"] > args.timeout:
                raise RuntimeError(f"only {done} of {args.accounts} executed in "
                                   f"{args.timeout}s: {open_problems(env)}")
            time.sleep(0.05)
        elapsed = time.time() - queued["committed"]
        busy1, steal1 = machine_cpu_seconds()
        cpu = {"slapd": process_cpu_seconds(server.process.pid) - cpu_before["slapd"],
               "workers": sum(process_cpu_seconds(w.pid) for w in workers)
               - cpu_before["workers"],
               "PostgreSQL": database_cpu_since(db_before,
                                                backend_pids(args.admin_url, args.database))}
        cpu["other programs"] = max(0.0, (busy1 - busy0) - sum(cpu.values()))
        say("raw run 2")
        raw.append(raw_rate(server, args.accounts, args.workers, "raw2"))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        server.process.terminate()
        server.process.wait(timeout=30)
        shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    import platform

    best = max(raw)
    rate = args.accounts / elapsed
    total = (busy1 - busy0) + (steal1 - steal0)
    return Figures(
        date=datetime.now(UTC).strftime("%Y-%m-%d"), machine=cpu_model(), cores=cores,
        memory_gib=round(memory_gib(), 1), python=platform.python_version(),
        accounts=args.accounts, workers=args.workers, batch=args.batch, pipeline=args.pipeline,
        analyzed=args.analyze,
        queue_seconds=round(queued["queue_seconds"], 2), queued_per_s=round(rate, 1),
        raw_per_round=[round(r, 1) for r in raw], raw_per_s=round(best, 1),
        ratio=round(rate / best, 3), cpu_seconds={k: round(v, 2) for k, v in cpu.items()},
        steal_share=round((steal1 - steal0) / total, 3) if total else 0.0)


def report(f: Figures) -> str:
    lines = [
        machine_line(f.cores, f.machine, f.memory_gib, f.python),
        f"settings     {f.accounts} accounts with a password each; {f.workers} workers "
        f"(batch {f.batch}, LDAP pipeline {f.pipeline}) on PostgreSQL; slapd (mdb, dbnosync) "
        "on loopback; passwords by "
        "RFC 3062" + ("; the queue table analyzed after queueing" if f.analyzed else
                      "; the queue table's statistics as autovacuum left them"),
        f"queued       {f.queued_per_s:.1f} accounts/s, {f.queued_per_s / f.cores:.1f}/s per "
        f"core (from the commit of {f.accounts} queued creations until all were executed; "
        f"queueing them took {f.queue_seconds:.1f}s)",
        f"raw          {f.raw_per_s:.1f} accounts/s, {f.raw_per_s / f.cores:.1f}/s per core: "
        f"add + RFC 3062 password set with python-ldap over {f.workers} connections "
        f"(runs: {', '.join(f'{r:.1f}' for r in f.raw_per_round)}; the faster counts)",
        f"clients      {CLIENT_FIGURES}",
        "peers        no published accounts-per-second figure of CzechIdM or midPoint is "
        "quoted here",
        f"ratio        {f.ratio:.3f} (queued / raw; target >= {TARGET_RATIO}: "
        f"{'met' if f.ratio >= TARGET_RATIO else 'NOT met'})",
        "CPU queued   " + ", ".join(f"{k} {v:.1f}s" for k, v in f.cpu_seconds.items())
        + f" (per account: workers {f.cpu_seconds['workers'] / f.accounts * 1000:.2f} ms, "
        f"PostgreSQL {f.cpu_seconds['PostgreSQL'] / f.accounts * 1000:.2f} ms, "
        f"slapd {f.cpu_seconds['slapd'] / f.accounts * 1000:.2f} ms)",
    ]
    lines += steal_warning(f.steal_share, "the queued run")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--_setup":
        setup_system(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "--_queue":
        queue_accounts(int(sys.argv[2]), analyze=sys.argv[3:4] == ["analyze"])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts (10000)")
    parser.add_argument("--workers", type=int, default=2,
                        help="keystead worker processes, and raw connections (2)")
    parser.add_argument("--batch", type=int, default=100, help="worker --batch (100)")
    parser.add_argument("--pipeline", type=int, default=100,
                        help="the LDAP system's `pipeline` setting: requests in flight per "
                             "worker connection (100; 1 waits for each answer)")
    parser.add_argument("--analyze", action="store_true",
                        help="ANALYZE the queue table right after queueing (what autovacuum "
                             "does within a minute); without it the claims of the first "
                             "seconds are planned with the statistics of a near-empty table")
    parser.add_argument("--timeout", type=float, default=900,
                        help="give up when the queue is not done after this long (900 s)")
    add_database_arguments(parser, "keystead_bench_provision")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    figures = bench(args)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")


if __name__ == "__main__":
    main()
