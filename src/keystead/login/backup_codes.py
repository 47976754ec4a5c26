"""Backup codes: ten single-use codes for when the other factors are out of reach.

A code is ten characters from Crockford's base-32 alphabet (digits and
lower-case letters without i, l, o, u), shown as ``xxxxx-xxxxx``: 50 random
bits. When typed, case, spaces and dashes do not matter, and the look-alikes
``o``/``i``/``l`` are read as ``0``/``1``/``1``.

Only a keyed hash is stored: HMAC-SHA256 under a key derived from SECRET_KEY
(``keystead.crypto.digest``). A slow password hash (argon2) is not needed and
would hurt: it exists to make guessing *low-entropy* passwords expensive
offline, but a code has 50 random bits, so even an attacker with the table and
the key faces 2^49 HMACs per code on average, and without the key (a leaked
backup holds only the table) the hashes are useless. Online, wrong codes count
against the account's lockout. A fast hash also lets a code be found and
consumed with one indexed, atomic ``UPDATE ... WHERE used_at IS NULL``, which
is what makes each code single-use across any number of processes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead import crypto
from keystead.directory import audit
from keystead.directory.models import User
from keystead.login.models import BackupCode
from keystead.row_locks import lock_and_read_again
from keystead.secret import Secret

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base 32
LENGTH = 10
COUNT = 10
PURPOSE = "backup-code"
_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def new_code() -> Secret:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return Secret(f"{raw[:5]}-{raw[5:]}")


def normalise(typed: str) -> str | None:
    """The canonical form of a typed code, or None if it cannot be one."""
    value = "".join(ch for ch in typed.lower() if ch not in " -\t").translate(_LOOKALIKES)
    if len(value) != LENGTH or any(ch not in ALPHABET for ch in value):
        return None
    return f"{value[:5]}-{value[5:]}"


def generate(user: User, *, request: HttpRequest | None = None) -> list[Secret]:
    """Replace the person's codes with ``COUNT`` new ones; returns them for showing once.

    The person's row is locked first: of two sets asked for at the same moment (two
    tabs, a double click), the second waits and replaces the first, so only the set
    last shown works."""
    codes = [new_code() for _ in range(COUNT)]
    with transaction.atomic():
        lock_and_read_again(user, "person")
        replaced, _ = BackupCode.objects.filter(user=user).delete()
        BackupCode.objects.bulk_create(
            BackupCode(user=user, code_hash=crypto.digest(code, PURPOSE)) for code in codes)
    audit.record("backup_codes.generate", request=request, actor=user, target=user,
                 detail={"count": COUNT, "replaced": replaced})
    return codes


def remaining(user: User) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


def has_codes(user: User) -> bool:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).exists()


def use(user: User, typed: str) -> bool:
    """Consume the code if it is one of the person's unused codes; each works once.

    Not audited here: the caller records the outcome (sign-in step).
    """
    code = normalise(typed)
    if code is None:
        return False
    used = BackupCode.objects.filter(
        user=user, used_at__isnull=True, code_hash__in=crypto.digests(code, PURPOSE),
    )[:1].values_list("pk", flat=True)
    return BackupCode.objects.filter(pk__in=list(used), used_at__isnull=True).update(
        used_at=timezone.now()) == 1


def reset(user: User) -> int:
    deleted, _ = BackupCode.objects.filter(user=user).delete()
    return deleted


def register() -> None:
    """Offer backup codes to the sign-in step (called from the app's ``ready``)."""
    from keystead.login import factors

    factors.register(factors.FactorMethod(
        key="backup", label="One of your backup codes", url_name="login_verify_backup",
        available=has_codes, reset=reset, order=90))


#: How long after a set is made the portal still offers it as a download.
DOWNLOAD_SECONDS = 15 * 60


def fresh_set(user: User, typed: list[str]) -> list[str] | None:
    """``typed`` as the person's codes if they are exactly their current, unused set
    made less than ``DOWNLOAD_SECONDS`` ago; else None.

    The download of a new set is the page sending back the codes it shows: nothing
    keeps them in clear on the server, and this check makes the download answer
    only with the person's own fresh codes, never with text of a caller's choosing.
    """
    codes = [normalise(code) for code in typed]
    if not codes or None in codes or len(set(codes)) != len(codes):
        return None
    since = timezone.now() - timedelta(seconds=DOWNLOAD_SECONDS)
    rows = BackupCode.objects.filter(user=user)
    if rows.filter(created_at__lt=since).exists() or rows.count() != len(codes):
        return None
    unused = set(rows.filter(used_at__isnull=True).values_list("code_hash", flat=True))
    if not all(unused & set(crypto.digests(code, PURPOSE)) for code in codes):
        return None
    return [code for code in codes if code is not None]
