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


def typed_name_for_audit(typed: str) -> str:
    """What a refused sign-in records of the name typed: the name when it is a well-formed
    email, else only its length (people type their password into the name field)."""
    name = typed.strip()
    return normalize_email(name) if is_email(name) else f"(not an email, {len(name)} characters)"


def person_problems(
    *, email: str | None, given_name: str | None, family_name: str | None
) -> list[FieldProblem]:
    """Every problem with the fields a person record must have, all at once."""
    problems: list[FieldProblem] = []
    email = (email or "").strip()
    if not email:
        problems.append(FieldProblem("email", "Email is required: it is the sign-in name."))
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
