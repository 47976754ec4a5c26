"""Forms of the admin console's user pages.

The person fields defer their "required" check to the directory rules
(``rules.person_problems`` through ``User.clean``), so a blank family name gets
the same message here as in the REST API and SCIM, and gets it once.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from keystead.directory.models import User
from keystead.secret import Secret


class _RuleCheckedMixin:
    """Skip the form's own "This field is required": the model's rules say it better."""

    def validate(self, value: Any) -> None:
        if value in self.empty_values:  # type: ignore[attr-defined]
            return
        super().validate(value)  # type: ignore[misc]


class RuleCheckedCharField(_RuleCheckedMixin, forms.CharField):
    pass


class RuleCheckedEmailField(_RuleCheckedMixin, forms.EmailField):
    pass


PERSON_FIELD_CLASSES = {
    "username": RuleCheckedCharField,
    "email": RuleCheckedEmailField,
    "given_name": RuleCheckedCharField,
    "family_name": RuleCheckedCharField,
}
_GENERIC_CODES = {"blank", "required"}


class _PersonForm(forms.ModelForm):
    """One clear message per person field: the rule's message for a missing field instead
    of Django's generic one, the field's own for a malformed value (not also the rule's
    "required", which the model's check adds once the bad value is dropped). Refuses
    names another person signs in with (``services.name_conflicts``)."""

    def _post_clean(self) -> None:
        malformed = {name for name in PERSON_FIELD_CLASSES if name in self._errors}
        super()._post_clean()
        if not (self.has_error("username") or self.has_error("email")
                or self.has_error("external_id")):
            from keystead.directory.services import name_conflicts

            instance = self.instance
            for problem in name_conflicts(instance.username or instance.email, instance.email,
                                          instance.external_id, exclude_pk=instance.pk):
                field = problem.field if problem.field in self.fields else None
                self.add_error(field, problem.message)
        if "email" in malformed and not (self.data.get("username") or "").strip():
            # The user name would have been the email: nothing to say about it yet.
            self._errors.pop("username", None)
        for name in PERSON_FIELD_CLASSES:
            if name not in self._errors:
                continue
            errors = self._errors[name].as_data()
            specific = [e for e in errors if e.code not in _GENERIC_CODES]
            if name in malformed:
                specific = errors[:1]
            if specific and len(specific) < len(errors):
                self._errors[name] = self.error_class(
                    specific, renderer=self.renderer, field_id=self[name].auto_id
                )


class UserAddForm(_PersonForm):
    """Email, names and an optional initial password typed twice.

    The password fields are dropped by the admin for staff who may not set
    passwords (see ``UserAdmin.get_form``).
    """

    password1 = forms.CharField(
        label="Initial password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional. Leave both fields empty to create the user without a password.",
    )
    password2 = forms.CharField(
        label="Initial password (again)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Type the same password again, to catch typing mistakes.",
    )

    class Meta:
        model = User
        fields = ("email", "username", "given_name", "family_name")
        field_classes = PERSON_FIELD_CLASSES
        help_texts = {"username": "Optional: an employee number, a user principal name, a "
                                  "login. Left empty, the user name is the email."}

    @sensitive_variables("first", "second")
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "password1" not in self.fields:
            return cleaned
        first = cleaned.get("password1") or ""
        second = cleaned.get("password2") or ""
        if first and not second:
            self.add_error("password2", "Type the password a second time to confirm it.")
        elif second and not first:
            self.add_error("password1", "Type the password here too, or clear both fields.")
        elif first != second:
            self.add_error("password2", "The two passwords do not match. Type them again.")
        return cleaned

    @sensitive_variables("password")
    def _post_clean(self) -> None:
        super()._post_clean()
        password = self.cleaned_data.get("password1")
        if password and not self.has_error("password2"):
            try:
                password_validation.validate_password(password, self.instance)
            except ValidationError as error:
                self.add_error("password1", error)

    def initial_password(self) -> Secret | None:
        """The typed password wrapped as a Secret, or None if none was given."""
        password = self.cleaned_data.get("password1") if "password1" in self.fields else ""
        return Secret(password) if password else None


class UserAddFormWithoutPassword(UserAddForm):
    """The add form for staff who may not set passwords: the fields do not exist at all."""

    password1 = None
    password2 = None


class ResetPasswordForm(AdminPasswordChangeForm):
    """Django's admin password form plus "must change at next sign-in", ticked by default.

    An administrator who types a password for someone else knows it, so the
    safe default is a temporary password (Keycloak's "temporary"): the person
    chooses their own at their next sign-in. Unticking it is a deliberate choice.
    """

    must_change = forms.BooleanField(
        label="Must change at next sign-in",
        required=False,
        initial=True,
        help_text="Recommended: the person chooses their own password when they next sign "
                  "in, so nobody else knows it.",
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(user, *args, **kwargs)
        self.fields["password1"].label = "New password"
        self.fields["password2"].label = "New password (again)"
        self.fields["password2"].help_text = "Type the same password again, to catch typing " \
                                             "mistakes."


class UserChangeForm(_PersonForm):
    """The person's details and, for superusers, their console access.

    The password is not a field: the page shows only whether one is set and
    since when (``person_overview.password_state``), never how it is hashed.
    Admin roles are chosen by name; permissions are granted through roles, so
    there is no picker of raw permissions.
    """

    class Meta:
        model = User
        fields = (
            "username", "email", "given_name", "family_name", "is_active",
            "must_change_password", "source", "source_id", "external_id",
            "is_staff", "is_superuser", "groups",
        )
        field_classes = PERSON_FIELD_CLASSES
        labels = {"groups": "Admin roles", "is_active": "Active",
                  "must_change_password": "Must change password at next sign-in"}
        widgets = {"groups": forms.CheckboxSelectMultiple}
        help_texts = {
            "groups": "Bundles of console permissions, by name. Only superusers can change "
                      "them; they take effect with console access.",
        }
