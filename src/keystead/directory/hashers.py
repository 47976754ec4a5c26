"""argon2id with parameters from settings (OWASP: m=19 MiB, t=2, p=1).

Django's own Argon2 hasher reports ``must_update`` when stored parameters
differ from these, so older hashes are upgraded at the next successful sign-in.
"""

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

# must_update's answers by (hash without its salt and digest, salt length, parameters now).
_MUST_UPDATE_KEPT = 64


class KeysteadArgon2Hasher(Argon2PasswordHasher):
    _must_update: dict[tuple, bool] = {}

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_MEMORY_KIB

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.ARGON2_PARALLELISM

    def must_update(self, encoded: str) -> bool:
        """Django's answer, remembered: it depends only on the hash's algorithm, version
        and parameters, the length of its salt and the parameters now, and working it
        out (parsing the hash, building both sets of parameters) ran on every sign-in."""
        parts = encoded.rsplit("$", 2)
        if len(parts) != 3:
            return super().must_update(encoded)
        key = (parts[0], len(parts[1]), self.time_cost, self.memory_cost, self.parallelism)
        answer = self._must_update.get(key)
        if answer is None:
            answer = super().must_update(encoded)
            if len(self._must_update) >= _MUST_UPDATE_KEPT:
                self._must_update.clear()
            self._must_update[key] = answer
        return answer
