"""Password sign-in: the one function every door that accepts a password calls.

The answer to the caller distinguishes only success, a required password
change, and failure. Unknown account, wrong password, disabled and locked
accounts all fail the same way and cost the same time (a password hash is
verified in every case); the audit log records the real reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.directory.rules import typed_name_for_audit
from keystead.login import lockout, second_step, throttle
from keystead.login.timing import verify_against_dummy
from keystead.policy.services import account_and_policy, password_problems, rules_fingerprint
from keystead.secret import Secret

GENERIC_FAILURE = ("The email, user name or password is not right, or the account cannot "
                   "sign in now.")


class Result(Enum):
    OK = "ok"
    MUST_CHANGE = "must_change"
    FAILED = "failed"


@dataclass(frozen=True)
class SignIn:
    result: Result
    user: User | None = None
    reasons: tuple[str, ...] = ()  # why a new password is required, in plain words
    expires_in_days: int | None = None  # set when inside the expiry warning window
    # Whether a second factor must follow, decided once here and handed to
    # second_step.after_password, so a sign-in does not read the policies again for it.
    second_factor: bool = False
    # Refused before anything was checked: the address failed too often (``throttle``).
    throttled: throttle.Throttled | None = None


def _fail(request, user, reason, username, door) -> SignIn:
    audit.record("login", request=request, outcome=Outcome.FAILURE, actor_label="anonymous",
                 target=user, detail={"method": "password", "door": door, "reason": reason,
                                      "username": typed_name_for_audit(
                                          username, known=user is not None)})
    return SignIn(Result.FAILED)


def change_reasons(user: User, password: Secret, policy, now) -> list[str]:
    """Why the user must choose a new password before getting a session."""
    reasons = []
    if user.must_change_password:
        reasons.append("Your administrator requires you to choose a new password.")
    if policy.expiry.is_expired(user.password_changed_at, now):
        reasons.append("Your password has expired.")
    # The rules are checked again only if they changed since the password last met them
    # (screening for guessability costs milliseconds on every sign-in otherwise).
    passed = rules_fingerprint(policy.password)
    if user.password_rules_passed == passed:
        return reasons
    rules_now = dataclasses.replace(policy.password, reuse_blocked=0)
    failures = password_problems(password, user=user, rules=rules_now)
    if failures:
        reasons.append("Your password no longer meets the password rules: it "
                       + "; ".join(f.message for f in failures) + ".")
    else:
        User.objects.filter(pk=user.pk).update(password_rules_passed=passed)
        user.password_rules_passed = passed
    return reasons


def sign_in_with_password(
    username: str, password: Secret, *, request: HttpRequest | None = None, door: str = "portal"
) -> SignIn:
    throttled = throttle.check(request, door=door)
    if throttled is not None:
        return SignIn(Result.FAILED, throttled=throttled)
    now = timezone.now()
    user, policy = account_and_policy(username)
    # Every refusal below runs the same statements (the release of an expired lock and
    # the failure count, both by the typed name) and one argon2 verification, so an
    # unknown, locked, disabled or mistaken account cannot be told apart by time,
    # whether the name typed is an email or a user name.
    lockout.release_if_expired(user, now, account=User.objects.signing_in_as(username))
    refusal = "unknown user" if user is None else lockout.sign_in_refusal(user, now)
    if refusal is not None:
        verify_against_dummy(password)
    elif not user.has_usable_password():
        verify_against_dummy(password)
        refusal = "wrong password"
    elif not user.check_password(password.reveal()):
        refusal = "wrong password"
    if refusal is not None:
        lockout.count_failed_sign_in(username, user if refusal == "wrong password" else None,
                                     policy.lockout, request=request)
        return _fail(request, user, refusal, username, door)
    second_factor = second_step.required_for(user, policy)
    if not second_factor:
        lockout.clear_failures(user)
    # else second_step clears it once the second factor passed (or a remembered browser
    # skipped it): a right password must not wipe out the count of wrong codes.
    reasons = change_reasons(user, password, policy, now)
    if reasons:
        audit.record("login", request=request, outcome=Outcome.DENIED, actor=user, target=user,
                     detail={"method": "password", "door": door,
                             "reason": "password change required"})
        return SignIn(Result.MUST_CHANGE, user, tuple(reasons))
    audit.record("login", request=request, actor=user, target=user,
                 detail={"method": "password", "door": door})
    return SignIn(Result.OK, user,
                  expires_in_days=policy.expiry.days_left_to_warn(user.password_changed_at, now),
                  second_factor=second_factor)
