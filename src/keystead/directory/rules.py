"""Pure rules for directory records: what makes a person record valid.

No database access here, so the admin form, the REST API and SCIM share one
definition and it can be tested on plain values.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator

MAX_NAME_LENGTH = 150
MAX_EMAIL_LENGTH = 254
# A user name defaults to the email address, so it may be as long as one.
MAX_USERNAME_LENGTH = 254

_email_validator = EmailValidator()


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field, phrased so the user knows how to fix it.

    ``code`` names the rule for programs (e.g. ``min_length``); it may be empty.
    """

    field: str
    message: str
    code: str = ""


class RuleViolation(Exception):
    """Input broke one or more rules; ``problems`` names every field and how to fix it."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


class Conflict(RuleViolation):
    """The record would collide with an existing one (e.g. the same email)."""


def normalize_email(email: str) -> str:
    """Sign-in names compare case-insensitively; store them trimmed and lower-cased."""
    return email.strip().lower()


def is_email(text: str) -> bool:
    """Whether ``text`` is a well-formed email address (no more than the length allowed)."""
    if not text or len(text) > MAX_EMAIL_LENGTH:
        return False
    try:
        _email_validator(text)
    except DjangoValidationError:
        return False
    return True


def typed_name_for_audit(typed: str, *, known: bool) -> str:
    """What a refused sign-in records of the name typed: the name when it named an
    account or is a well-formed email, else only its length (people type their
    password into the name field)."""
    name = typed.strip()
    if known:
        return name
    if is_email(name):
        return normalize_email(name)
    return f"(not a known name, {len(name)} characters)"


def username_problems(username: str | None) -> list[FieldProblem]:
    """What is wrong with a user name. Any printable text is allowed (an employee
    number, a user principal name, a login), so clients' own names fit unchanged."""
    if username is None or not username.strip():
        return [FieldProblem("username", "User name is required and must not be blank.")]
    if username != username.strip():
        return [FieldProblem("username", "User name must not begin or end with a space; "
                                         "remove the surrounding spaces.")]
    if len(username) > MAX_USERNAME_LENGTH:
        return [FieldProblem("username",
                             f"User name must be at most {MAX_USERNAME_LENGTH} characters.")]
    if not username.isprintable():
        return [FieldProblem("username", "User name must contain only printable characters "
                                         "(no tabs, line breaks or control characters).")]
    return []


def person_problems(
    *, email: str | None, given_name: str | None, family_name: str | None,
    username: str | None = None,
) -> list[FieldProblem]:
    """Every problem with the fields a person record must have, all at once.

    ``username`` None: not given, so it will default to the email and needs no check.
    """
    problems: list[FieldProblem] = [] if username is None else username_problems(username)
    email = (email or "").strip()
    if not email:
        problems.append(FieldProblem(
            "email", "Email is required: password resets and sign-in codes are mailed to it."))
    elif len(email) > MAX_EMAIL_LENGTH:
        problems.append(
            FieldProblem("email", f"Email must be at most {MAX_EMAIL_LENGTH} characters.")
        )
    else:
        try:
            _email_validator(email)
        except DjangoValidationError:
            problems.append(FieldProblem(
                "email", f"Email {email!r} is not a valid address, e.g. ada@example.com."))
    names = {"given_name": ("Given name", given_name), "family_name": ("Family name", family_name)}
    for field, (label, raw) in names.items():
        value = (raw or "").strip()
        if not value:
            problems.append(
                FieldProblem(
                    field,
                    f"{label} is required and must not be blank: "
                    "sign-in tokens and the endpoint agent rely on it.",
                )
            )
        elif len(value) > MAX_NAME_LENGTH:
            problems.append(
                FieldProblem(field, f"{label} must be at most {MAX_NAME_LENGTH} characters.")
            )
    return problems


def name_problems(name: str | None, *, label: str = "Name") -> list[FieldProblem]:
    value = (name or "").strip()
    if not value:
        return [FieldProblem("name", f"{label} is required and must not be blank.")]
    if len(value) > MAX_NAME_LENGTH:
        return [FieldProblem("name", f"{label} must be at most {MAX_NAME_LENGTH} characters.")]
    return []
