"""Stored logon policy: one for the installation, optional stricter ones per group."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from keystead.policy.lockout import ExpiryRules, LockoutRules
from keystead.policy.rules import MAX_STRENGTH, REUSE_ALL, PasswordRules

_DEFAULTS = PasswordRules()
_LOCK = LockoutRules()
_EXPIRY = ExpiryRules()


def _count(default: int, help_text: str, *, low: int = 0, high: int = 128):
    return models.PositiveSmallIntegerField(
        default=default, help_text=help_text,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
    )


class Strength(models.IntegerChoices):
    """zxcvbn's scores, in its own words: roughly how many guesses a password resists."""

    OFF = 0, "0 - no rule"
    VERY_GUESSABLE = 1, "1 - very guessable (fewer than a million guesses)"
    SOMEWHAT_GUESSABLE = 2, "2 - somewhat guessable (fewer than 100 million guesses)"
    SAFELY_UNGUESSABLE = 3, "3 - safely unguessable (at least 100 million guesses)"
    VERY_UNGUESSABLE = 4, "4 - very unguessable (at least 10 billion guesses)"


class PolicySettings(models.Model):
    """The settings every policy has. Field defaults follow NIST SP 800-63B-4."""

    min_length = _count(_DEFAULTS.min_length, "Minimum password length.", low=1)
    max_length = models.PositiveSmallIntegerField(
        default=_DEFAULTS.max_length,
        validators=[MinValueValidator(64), MaxValueValidator(4096)],
        help_text="Maximum password length; at least 64 so passphrases fit.",
    )
    min_strength = models.PositiveSmallIntegerField(
        default=_DEFAULTS.min_strength, choices=Strength.choices,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_STRENGTH)],
        help_text="Lowest zxcvbn strength score (0-4) a password must reach; 0 = no rule.")
    min_lowercase = _count(0, "Lowercase letters a password must contain (0 = no rule).")
    min_uppercase = _count(0, "Uppercase letters a password must contain (0 = no rule).")
    min_digits = _count(0, "Numbers a password must contain (0 = no rule).")
    min_symbols = _count(0, "Non-alphanumeric characters a password must contain (0 = no rule).")
    reuse_blocked = models.SmallIntegerField(
        default=_DEFAULTS.reuse_blocked,
        validators=[MinValueValidator(REUSE_ALL), MaxValueValidator(100)],
        help_text="Block re-use of previous passwords: 0 = allowed, N = the last N, -1 = all.",
    )
    screen_common = models.BooleanField(
        default=True, help_text="Refuse common and breached passwords (offline list).")
    screen_personal = models.BooleanField(
        default=True, help_text="Refuse passwords containing the user's name or email.")
    expire_days = _count(_EXPIRY.expire_days, "Password expires after N days (0 = never).",
                         high=3650)
    warn_days = _count(_EXPIRY.warn_days, "Warn this many days before a password expires.",
                       high=365)
    max_failures = _count(
        _LOCK.max_failures,
        "Consecutive failed sign-ins before the account locks (0 = never lock).", high=1000)
    lock_minutes = _count(
        _LOCK.lock_minutes,
        "Minutes an account stays locked (0 = until an administrator unlocks).", high=32767)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def password_rules(self) -> PasswordRules:
        return PasswordRules(
            min_length=self.min_length, max_length=self.max_length,
            min_lowercase=self.min_lowercase, min_uppercase=self.min_uppercase,
            min_digits=self.min_digits, min_symbols=self.min_symbols,
            reuse_blocked=self.reuse_blocked, screen_common=self.screen_common,
            screen_personal=self.screen_personal, min_strength=self.min_strength,
        )

    def lockout_rules(self) -> LockoutRules:
        return LockoutRules(max_failures=self.max_failures, lock_minutes=self.lock_minutes)

    def expiry_rules(self) -> ExpiryRules:
        return ExpiryRules(expire_days=self.expire_days, warn_days=self.warn_days)


class Strategy(models.TextChoices):
    """How people sign in to the whole installation."""

    PASSWORD = "password", "Password"
    PASSWORD_AND_SECOND_FACTOR = "password+2fa", "Password and a second factor"
    LDAP = "ldap", "LDAP directory"
    SAML = "saml", "SAML / ADFS identity provider"


class LogonPolicy(PolicySettings):
    """The installation's policy: a single row, created with the defaults on first use."""

    login_strategy = models.CharField(
        max_length=16, choices=Strategy.choices, default=Strategy.PASSWORD,
        help_text="How everyone signs in. Groups can require a second factor on top.")
    email_code_length = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(4), MaxValueValidator(10)],
        help_text="Digits in an emailed sign-in code (4-10).")
    code_max_attempts = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Wrong second-factor codes before the account locks, like a password lockout.")
    remember_days = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(365)],
        help_text="Days a browser may skip the second factor after passing it (0 = ask every "
                  "time). A browser keeps the period it was granted with.")

    class Meta:
        verbose_name = "logon settings"
        verbose_name_plural = "logon settings"

    def __str__(self) -> str:
        return "Logon settings"

    @classmethod
    def current(cls) -> LogonPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class GroupPolicy(PolicySettings):
    """A stricter policy for a group's members; for each rule the strictest value wins."""

    group = models.OneToOneField(
        "directory.Group", on_delete=models.CASCADE, related_name="logon_policy")
    require_second_factor = models.BooleanField(
        default=False,
        help_text="Members must pass a second factor whatever the installation's strategy.")
    strong_factors_only = models.BooleanField(
        default=False,
        help_text="Members may confirm a sign-in only with a passkey, an authenticator app or "
                  "a backup code: codes by email are not offered to them.")

    class Meta:
        verbose_name = "group logon policy"
        verbose_name_plural = "group logon policies"

    def __str__(self) -> str:
        return f"Logon policy for {self.group}"


class PasswordHistory(models.Model):
    """Hashes of a user's previous passwords, for the re-use rule. Never clear text."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history")
    password_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "password history"

    def __str__(self) -> str:
        return f"Previous password of {self.user} ({self.created_at:%Y-%m-%d})"
