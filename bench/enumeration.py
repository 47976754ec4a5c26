#!/usr/bin/env python3
"""Can an anonymous caller tell who has an account by timing the answers? (Not a test.)

    .venv/bin/python bench/enumeration.py [--samples 200] [--database keystead_enum]

In one run, on a fresh PostgreSQL database, this times refused password sign-ins
through Django's request handling in process (the whole answer: middleware, form or
token endpoint, the sign-in, the audit event, the template) for six kinds of
account name:

* **unknown**: nobody has that email;
* **unknown name**: nobody has that user name;
* **wrong**: an active account, the wrong password;
* **wrong by name**: the same account typed by its user name, the wrong password;
* **locked**: an account locked until an administrator unlocks it;
* **disabled**: a disabled account.

through two doors: the sign-in form (``POST /login/``) and the OpenID Connect
password grant (``POST /oauth/token/``, a confidential client allowed to use it).
Samples of all kinds alternate in a shuffled order, so drift in the machine's
speed falls on every kind alike. For each door and kind it prints the median
answer time, its ratio to the unknown account's, and the two-sided p-value of
the Mann-Whitney rank test against the unknown account's samples: a small p
(below 0.05) means the kind can be told apart from an unknown account by time.
The target is p > 0.05 for every kind at 200 samples on a quiet machine.

The address throttle is turned off for the run (every request comes from one
address) and the wrong-password account never locks.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # bench/ is not a package: this directory is on sys.path

PASSWORD = "Saffron-Harbour-Lattice-77"
KINDS = ("unknown", "unknown name", "wrong", "wrong by name", "locked", "disabled")
NAMES = {"unknown": "nobody@example.com", "unknown name": "N9999", "wrong": "wrong@example.com",
         "wrong by name": "W1001", "locked": "locked@example.com",
         "disabled": "disabled@example.com"}


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    pooled = sorted((value, side) for side, values in ((0, a), (1, b)) for value in values)
    ranks: list[float] = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        size = j - i + 1
        ties += size**3 - size
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(rank for rank, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2) / sigma if sigma else 0.0
    return math.erfc(abs(z) / math.sqrt(2))


def _setup() -> dict[str, str]:
    """The accounts and the password-grant client (run inside the bench database)."""
    import secrets

    from django.utils import timezone
    from oauth2_provider.models import get_application_model

    from keystead.directory.models import User
    from keystead.policy.models import LogonPolicy
    from keystead.providers.oidc.models import ClientSettings

    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(max_failures=0)  # the wrong one never locks
    for kind in ("wrong", "locked", "disabled"):
        User.objects.create_user(NAMES[kind], "Timing", kind.title(), password=PASSWORD)
    User.objects.filter(email=NAMES["wrong"]).update(username=NAMES["wrong by name"])
    User.objects.filter(email=NAMES["locked"]).update(locked_at=timezone.now())
    User.objects.filter(email=NAMES["disabled"]).update(is_active=False)
    Application = get_application_model()
    secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name="Timing", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD, client_secret=secret,
        redirect_uris="", algorithm=Application.RS256_ALGORITHM)
    ClientSettings.objects.update_or_create(application=app,
                                            defaults={"allowed_grants": ["password"]})
    return {"client_id": app.client_id, "secret": secret}


def _door_requests(client_id: str, secret: str):
    """(door, kind) → a function answering one refused attempt, timed by the caller."""
    import base64

    from django.test import Client

    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form, token = Client(), Client()

    def sign_in(kind: str) -> int:
        return form.post("/login/", {"username": NAMES[kind],
                                     "password": "Not-The-Password-1"}).status_code

    def password_grant(kind: str) -> int:
        return token.post("/oauth/token/", {"grant_type": "password", "username": NAMES[kind],
                                            "password": "Not-The-Password-1"},
                          HTTP_AUTHORIZATION=basic).status_code

    return {"sign-in form": sign_in, "password grant": password_grant}


def measure(samples: int, warm_up: int, credentials: dict[str, str]) -> dict:
    doors = _door_requests(credentials["client_id"], credentials["secret"])
    times: dict[tuple[str, str], list[float]] = {(d, k): [] for d in doors for k in KINDS}
    plan = [(door, kind) for door in doors for kind in KINDS]
    for round_number in range(warm_up + samples):
        random.shuffle(plan)
        for door, kind in plan:
            started = time.perf_counter()
            status = doors[door](kind)
            elapsed = time.perf_counter() - started
            if status not in (200, 400, 401):
                raise SystemExit(f"{door} answered {status} for the {kind} account")
            if round_number >= warm_up:
                times[(door, kind)].append(elapsed)
    return times


def report(times: dict, samples: int) -> str:
    lines = [f"Refused sign-ins, {samples} samples per kind, answer time in process:", ""]
    worst = 1.0
    for door in dict.fromkeys(d for d, _ in times):
        base = times[(door, "unknown")]
        lines.append(f"{door}:")
        for kind in KINDS:
            mine = times[(door, kind)]
            median = statistics.median(mine)
            ratio = median / statistics.median(base)
            p = 1.0 if kind == "unknown" else mann_whitney_p(mine, base)
            worst = min(worst, p)
            verdict = "" if kind == "unknown" else ("  ok" if p > 0.05 else "  TELLS APART")
            lines.append(f"  {kind:13} median {median * 1000:7.2f} ms  ratio {ratio:5.3f}  "
                         f"p {p:6.3f}{verdict}")
        lines.append("")
    lines.append(f"Smallest p-value: {worst:.3f} (target: above 0.05 for every kind)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="per kind and door (200)")
    parser.add_argument("--warm-up", type=int, default=10, help="rounds not counted (10)")
    common.add_database_arguments(parser, "keystead_enum")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.update({
            "KEYSTEAD_DATABASE_URL": common.database_url(args.admin_url, args.database),
            "KEYSTEAD_DATA_DIR": str(Path(workdir) / "data"),
            "KEYSTEAD_THROTTLE_FAILURES": "0",
            "KEYSTEAD_LOG_LEVEL": "ERROR",
            "DJANGO_SETTINGS_MODULE": "keystead.settings",
        })
        common.recreate_database(args.admin_url, args.database)
        subprocess.run([str(common.VENV_BIN / "keystead"), "migrate"],  # noqa: S603
                       check=True, stdout=subprocess.DEVNULL)
        import django

        django.setup()
        credentials = _setup()
        times = measure(args.samples, args.warm_up, credentials)
    print(report(times, args.samples))


if __name__ == "__main__":
    main()
