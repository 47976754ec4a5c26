"""Child process for the lockout concurrency test: wrong passwords straight into the service.

Run as ``python helpers_lockout_child.py EMAIL PASSWORD ATTEMPTS GO_FILE`` with
``KEYSTEAD_DATABASE_URL`` pointing at the test database. It starts Django on
its own (a separate process with its own database connection, like a web
worker), says it is ready by creating ``ready-PID`` next to GO_FILE, waits
until GO_FILE exists so all children start failing at the same moment, calls
``sign_in_with_password`` ATTEMPTS times and prints the results as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(email: str, password: str, attempts: int, go_file: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keystead.settings")
    import django

    django.setup()
    from keystead.directory.models import User
    from keystead.login.passwords import sign_in_with_password
    from keystead.secret import Secret

    User.objects.filter(email=email).exists()  # connect now, not after the go signal
    (go_file.parent / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the go signal never came")
        time.sleep(0.005)
    results = [
        sign_in_with_password(email, Secret(password), door="test").result.value
        for _ in range(attempts)
    ]
    print(json.dumps({"pid": os.getpid(), "results": results}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
