"""Admin console forms for logon policies.

The form checks each value with Django's field validators (the model's
ranges) and then hands the whole set to ``changes.setting_problems``, the
check the API and the command line use, so a rule such as "max_length must
be at least min_length" reads the same in every door.
"""

from __future__ import annotations

from typing import Any

from django import forms

from keystead.policy.changes import (
    INSTALLATION_FIELDS,
    LABELS,
    NIST_MAX_FAILURES,
    SETTING_FIELDS,
    STRATEGY_FIELDS,
    setting_problems,
    strategy_problems,
)
from keystead.policy.models import GroupPolicy, LogonPolicy

HELP_TEXTS = {
    "min_length": "Allowed: 8 to 128. NIST SP 800-63B-4 asks for at least 15 characters for a "
                  "password used alone; 8 is acceptable only where every sign-in also needs "
                  "a second factor.",
    "max_length": "At least 64, so long passphrases fit. Long limits cost nothing: passwords "
                  "are stored as a fixed-size hash.",
    "min_strength": "How hard to guess a password must be, as scored by zxcvbn, which spots "
                    "repeats (passwordpassword), sequences (1234567890123456), keyboard rows, "
                    "dates, common words and the person's own name and email. 3, the default, "
                    "means at least about 100 million guesses: far beyond online guessing and "
                    "still reached by three or four unrelated words. 4 refuses many memorable "
                    "passphrases; 0 turns the rule off. Only the first 32 characters are "
                    "scored.",
    "min_lowercase": "0 = no rule (the default; NIST advises against character-type rules).",
    "min_uppercase": "0 = no rule.",
    "min_digits": "0 = no rule.",
    "min_symbols": "Characters such as @ & < = count. 0 = no rule.",
    "screen_common": "Checked offline against the list shipped with Keystead and the "
                     "operator's own list (KEYSTEAD_PASSWORD_FILTER). NIST requires this.",
    "screen_personal": "Refuse passwords that contain the person's given name, family name "
                       "or the name part of their email.",
    "reuse_blocked": "0 = re-use allowed, N = the last N passwords (the current one counts), "
                     "-1 = every previous password.",
    "expire_days": "0 = never (recommended: NIST asks for a change only when there is "
                   "evidence of compromise).",
    "warn_days": "People are warned at sign-in this many days before their password expires. "
                 "Must be less than the expiry. Ignored when passwords never expire.",
    "max_failures": f"Consecutive failed sign-ins before the account locks; 1 to "
                    f"{NIST_MAX_FAILURES} (NIST limits it to 100). 0 = never lock: only if "
                    "something else limits password guessing.",
    "lock_minutes": "How long a locked account stays locked. 0 = until an administrator "
                    "unlocks it (which lets an attacker lock people out at will).",
    "login_strategy": "How everyone signs in. \"Password and a second factor\" needs a mail "
                      "server so sign-in codes can be sent. A group policy can require a "
                      "second factor for its members whatever is chosen here.",
    "email_code_length": "Digits in a code sent by email (4 to 10).",
    "code_max_attempts": "Wrong second-factor codes before the account locks, exactly like a "
                         "password lockout (same lockout period, same unlock).",
    "remember_days": "0 = ask every time. A browser that passed the second factor may skip it "
                     "for this many days. Changing the number affects only browsers remembered "
                     "after the change: each keeps the period it was granted with.",
}



class PolicyForm(forms.ModelForm):
    """The settings of a policy, checked field by field and then as a whole.

    Each setting also sends the value the page showed (a hidden "initial"
    input), so ``changed_data`` lists what this administrator changed, not
    what someone else changed since the page was opened; only those are saved.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in INSTALLATION_FIELDS:
            if name in self.fields:
                self.fields[name].show_hidden_initial = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in SETTING_FIELDS}
        if any(value is None for value in values.values()):
            return cleaned  # a field already has its own error; relations need every value
        for problem in setting_problems(values):
            if problem.field not in self.errors:
                self.add_error(problem.field if problem.field in self.fields else None,
                               problem.message)
        return cleaned


class LogonPolicyForm(PolicyForm):
    """The installation's settings, with the login strategy and second-factor settings.

    Those four are optional in a post (a page from before they existed, or a
    script that sends only the password rules): left out, they keep their value.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in STRATEGY_FIELDS:
            if name in self.fields:  # absent on the read-only page
                self.fields[name].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values = {name: cleaned[name] for name in STRATEGY_FIELDS
                  if cleaned.get(name) not in (None, "")}
        before = {name: getattr(self.instance, name) for name in STRATEGY_FIELDS}
        for problem in strategy_problems(values, before):
            if problem.field not in self.errors:
                self.add_error(problem.field, problem.message)
        return cleaned

    class Meta:
        model = LogonPolicy
        fields = INSTALLATION_FIELDS
        labels = LABELS
        help_texts = HELP_TEXTS


class GroupPolicyForm(PolicyForm):
    class Meta:
        model = GroupPolicy
        fields = ("group", "require_second_factor", "strong_factors_only", *SETTING_FIELDS)
        labels = LABELS
        help_texts = {
            "group": "Members of this group get, for each rule, the stricter of this value "
                     "and the installation's.",
            "require_second_factor": "Members must pass a second factor (a code by email, "
                                     "an authenticator app, a backup code or a passkey) after "
                                     "their password, whatever the installation's strategy.",
            "strong_factors_only": "Members confirm sign-ins only with a passkey, an "
                                   "authenticator app or a backup code; codes by email are "
                                   "not offered (email is the weakest factor).",
            **HELP_TEXTS,
        }
