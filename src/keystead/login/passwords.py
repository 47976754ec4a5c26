"""Password sign-in: the one function every door that accepts a password calls.

The answer to the caller distinguishes only success, a required password
change, and failure. Unknown account, wrong password, disabled and locked
accounts all fail the same way and cost the same time (a password hash is
verified in every case); the audit log records the real reason.

The installation's login strategy decides who checks the password. Under
LDAP the directory does (``keystead.sources.ldap.sign_in``) and Keystead's
lockout, throttle, second factor and audit apply on top; under SAML a
password opens nothing. Break-glass accounts always use their Keystead
password, so a wrong federation setting cannot lock every administrator out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome, Source, User
from keystead.directory.rules import typed_name_for_audit
from keystead.login import lockout, second_step, throttle
from keystead.login.timing import verify_against_dummy
from keystead.policy.models import LogonPolicy, Strategy
from keystead.policy.services import (
    EffectivePolicy,
    account_and_policy,
    effective_policy,
    password_problems,
    rules_fingerprint,
)
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
    # A failure the person may be told in plain words instead of the generic one (the
    # directory is unreachable; its password expired): never said for a wrong password.
    message: str = ""
    # Said after a successful sign-in (the directory's grace sign-ins left).
    notice: str = ""


def _fail(request, user, reason, username, door, *, method: str = "password",
          message: str = "") -> SignIn:
    audit.record("login", request=request, outcome=Outcome.FAILURE, actor_label="anonymous",
                 target=user, detail={"method": method, "door": door, "reason": reason,
                                      "username": typed_name_for_audit(
                                          username, known=user is not None)})
    return SignIn(Result.FAILED, message=message)


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
    strategy = policy.strategy  # read with the policy: no second read on every sign-in
    if strategy in (Strategy.LDAP, Strategy.SAML) and not (user is not None and user.break_glass):
        if strategy == Strategy.LDAP:
            return _through_directory(username, password, user, policy, now,
                                      request=request, door=door)
        verify_against_dummy(password)  # the cost of any other refusal
        return _fail(request, user, "password sign-in is off: the login strategy is SAML "
                     "and this is not a break-glass account", username, door)
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
    # With a second factor to follow, second_step admits once it passed (or a remembered
    # browser skipped it): a right password must not wipe out the count of wrong codes.
    if not second_factor and not lockout.admit(user):
        return _fail(request, user, "account locked while the password was checked",
                     username, door)
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


def _through_directory(username: str, password: Secret, user: User | None,
                       policy: EffectivePolicy, now, *, request: HttpRequest | None,
                       door: str) -> SignIn:
    """The LDAP strategy: the directory checks the password, Keystead's rules follow."""
    from keystead.sources.ldap.sign_in import Outcome as Answer
    from keystead.sources.ldap.sign_in import check_password

    lockout.release_if_expired(user, now, account=User.objects.signing_in_as(username))
    answer = check_password(username, password, request=request, door=door)
    person = answer.user
    if person is not None and person != user:
        policy = effective_policy(person)
        lockout.release_if_expired(person, now)
    if answer.outcome in (Answer.UNAVAILABLE, Answer.REFUSED):
        if answer.outcome is Answer.REFUSED and not answer.message:  # a message: right password
            lockout.count_failed_sign_in(username, person if answer.wrong_password else None,
                                         policy.lockout, request=request)
        return _fail(request, person, answer.reason, username, door, method="ldap",
                     message=answer.message)
    refusal = lockout.sign_in_refusal(person, now)
    if refusal is not None:  # Keystead's own lock or a disabled account: said like any failure
        lockout.count_failed_sign_in(username, None, policy.lockout, request=request)
        return _fail(request, person, refusal, username, door, method="ldap")
    if answer.outcome is Answer.MUST_CHANGE:
        audit.record("login", request=request, outcome=Outcome.DENIED, actor=person,
                     target=person, detail={"method": "ldap", "door": door,
                                            "reason": f"password change required: "
                                                      f"{answer.reason}"})
        return SignIn(Result.MUST_CHANGE, person, (answer.message,))
    second_factor = second_step.required_for(person, policy)
    if not second_factor and not lockout.admit(person):
        return _fail(request, person, "account locked while the password was checked",
                     username, door, method="ldap")
    detail = {"method": "ldap", "door": door}
    if answer.reason:  # grace sign-ins left, expiry near
        detail["directory"] = answer.reason
    audit.record("login", request=request, actor=person, target=person, detail=detail)
    return SignIn(Result.OK, person, second_factor=second_factor, notice=answer.warning)


def current_password_matches(user: User, password: Secret) -> bool:
    """Whether ``password`` is the person's current one, asked where it lives: the
    directory for a person from it under the LDAP strategy, else Keystead's hash."""
    if (user.source == Source.LDAP and not user.break_glass
            and LogonPolicy.current().login_strategy == Strategy.LDAP):
        from keystead.sources.ldap.sign_in import password_accepted

        return password_accepted(user, password)
    return user.check_password(password.reveal())
