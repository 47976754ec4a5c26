"""argon2id with parameters from settings (OWASP: m=19 MiB, t=2, p=1).

Django's own Argon2 hasher reports ``must_update`` when stored parameters
differ from these, so older hashes are upgraded at the next successful sign-in.
"""

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class KeysteadArgon2Hasher(Argon2PasswordHasher):
    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_MEMORY_KIB

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.ARGON2_PARALLELISM
