"""The hasher for OIDC client secrets: fast, because the secrets are random.

Every request a confidential client makes to the token endpoint (a refresh, a
client-credentials grant, a code exchange, introspection, revocation) verifies
its client secret. With the site's password hasher (argon2id, m = 19 MiB,
t = 2) that verification cost about 21 ms of CPU, more than everything else a
token grant does together: ``bench/tokens.py`` measured 18 refresh grants/s
per core, against 360 to reach (docs/performance.md).

argon2's cost is there to slow down guessing of a *person's* password, which
has little entropy. A client secret is not guessable: the toolkit generates it
(``CLIENT_SECRET_GENERATOR_CLASS``: 128 characters from 62, about 760 bits),
it is shown once and pasted into the application's configuration. No amount of
work per guess changes anything against 2**760 candidates, so a single keyed
hash with a random salt protects a stolen table just as well, in microseconds.

Built on Django's PBKDF2-HMAC-SHA256 with one iteration (one HMAC-SHA256 of
the secret, keyed with a per-secret random salt), under its own algorithm name
so the weak work factor is never mistaken for a password hash, and so
``PASSWORD_HASHERS`` keeps argon2id first for people. Secrets stored earlier
with argon2id still verify (the toolkit identifies the hasher from the stored
value); resetting one stores it with this hasher.

Caveat: the admin console lets an administrator type a secret instead of the
generated one. A short, human-chosen secret would be cheap to guess from a
stolen database with this hasher; keep the generated one.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ClientSecretHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_client_secret"
    iterations = 1

    def must_update(self, encoded: str) -> bool:
        return False  # one iteration is the intended cost, not an old setting
