"""Equal cost for unknown and known accounts, so timing does not reveal who exists."""

from __future__ import annotations

from functools import cache

from django.contrib.auth.hashers import check_password, make_password

from keystead.secret import Secret


@cache
def _dummy_hash() -> str:
    # Made with the current hasher and parameters, so verifying it costs the same.
    return make_password("keystead-dummy-password-for-timing")


def verify_against_dummy(password: Secret) -> None:
    check_password(password.reveal(), _dummy_hash())
