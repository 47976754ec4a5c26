"""Granting a role to many people at once: what the console request costs until the
accounts are queued (no connected system is reached; the workers do that later).

One run:

1. creates a fresh PostgreSQL database for Keystead (migrated), one LDAP system with
   a typical mapping (cn, sn, mail from the person, a scripted description, the main
   password through a script, a second password attribute as ``{SSHA}``) and a
   generating password policy, a role that maps to it, and N people in one group;
2. adds the group to the role (as the console does, ``Role.groups.add``) in one
   transaction, counting the SQL statements and the wall time until it commits;
3. checks that N account creations were queued, and prints people/s and statements
   per person.

    .venv/bin/python bench/role_grant.py                 # 2,000 people
    .venv/bin/python bench/role_grant.py --people 10000
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import VENV_BIN, add_database_arguments, database_url, recreate_database, say


def grant(people: int) -> None:
    """Run inside Keystead's environment: set up, grant, print the figures as JSON."""
    import django

    django.setup()
    from django.db import connection, transaction

    from keystead.directory.models import Group, Role, User
    from keystead.provisioning.models import (
        MappedAttribute,
        Operation,
        PasswordPolicy,
        RoleSystem,
        System,
    )
    from keystead.secret import Secret

    policy = PasswordPolicy.objects.create(name="bench generated", generated_length=24)
    system = System(name="bench-ldap", connector="ldap", generating_policy=policy,
                    settings={"url": "ldap://127.0.0.1:1", "bind_dn": "cn=admin",
                              "base_dn": "ou=bench", "name_attribute": "uid"})
    system.set_secrets({"bind_password": Secret("bench-root-secret")})
    system.save()
    for name, source, script in (("cn", "full_name", ""), ("sn", "family_name", ""),
                                 ("mail", "email", ""),
                                 ("description", "", '"Keystead: " + user.username')):
        MappedAttribute.objects.create(system=system, name=name, source=source, script=script)
    MappedAttribute.objects.create(system=system, name="__PASSWORD__", is_password=True,
                                   script="value")
    MappedAttribute.objects.create(system=system, name="userPassword", is_password=True,
                                   script="value == null ? null : ssha(value)")
    role = Role.objects.create(name="bench role")
    RoleSystem.objects.create(role=role, system=system)
    users = User.objects.bulk_create([
        User(username=f"p{i}", email=f"p{i}@bench.test", given_name="Person",
             family_name=f"Number {i}") for i in range(people)])
    group = Group.objects.create(name="bench group")
    group.members.add(*users)

    statements = 0

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool,
              context: dict[str, Any]) -> Any:
        """Django's execute wrapper: counts every statement, savepoints included."""
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count), transaction.atomic():
        role.groups.add(group)
    seconds = time.perf_counter() - started
    queued = Operation.objects.filter(system=system, kind="create").count()
    print(json.dumps({"people": people, "seconds": seconds, "statements": statements,
                      "queued": queued}))


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--_grant":
        grant(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000, help="people in the group (2000)")
    add_database_arguments(parser, "keystead_bench_role_grant")
    args = parser.parse_args()
    env = {**os.environ,
           "KEYSTEAD_DATABASE_URL": database_url(args.admin_url, args.database),
           "KEYSTEAD_SECRET_KEY": secrets.token_urlsafe(50),
           "KEYSTEAD_BASE_URL": "http://127.0.0.1",
           "KEYSTEAD_DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "keystead.settings"}
    say(f"fresh database {args.database}, {args.people:,} people in one group")
    recreate_database(args.admin_url, args.database)
    # Our own commands with fixed arguments and no shell:
    subprocess.run([str(VENV_BIN / "keystead"), "migrate"],  # noqa: S603
                   env=env, check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run([sys.executable, __file__, "--_grant", str(args.people)],  # noqa: S603
                          env=env, check=True, capture_output=True, text=True)
    f = json.loads(done.stdout.strip().splitlines()[-1])
    if f["queued"] != f["people"]:
        raise SystemExit(f"queued {f['queued']} creations for {f['people']} people")
    print(f"granted a role to {f['people']:,} people: {f['seconds']:.2f} s, "
          f"{f['people'] / f['seconds']:,.0f} people/s, {f['statements']:,} SQL statements "
          f"({f['statements'] / f['people']:.2f} per person), {f['queued']:,} creations queued")


if __name__ == "__main__":
    main()
