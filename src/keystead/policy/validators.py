"""The logon policy as a Django password validator.

Django's own forms (the console's add-user and set-password forms) call the
configured validators before they save; plugging the policy in here makes
them show every failing rule on the form, exactly as the other doors do.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from keystead.policy.rules import Person
from keystead.policy.services import effective_policy, password_problems
from keystead.secret import Secret


class PolicyPasswordValidator:
    def validate(self, password: str, user=None) -> None:
        person = None
        if user is not None:
            person = Person(email=user.email or "", given_name=user.given_name or "",
                            family_name=user.family_name or "")
        saved = user if user is not None and user.pk else None
        failures = password_problems(Secret(password), user=saved, person=person)
        if failures:
            raise ValidationError(
                [ValidationError(f"The password {f.message}.", code=f.code) for f in failures]
            )

    def get_help_text(self) -> str:
        rules = effective_policy(None).password
        easy = ("; not easy to guess (no repeats, sequences or keyboard rows)"
                if rules.min_strength else "")
        return (f"At least {rules.min_length} characters; not a common or breached password"
                f"{easy}; not containing your name or email.")
