"""Forms of the self-service pages."""

from collections.abc import Sequence

from django import forms


class SignInForm(forms.Form):
    """The sign-in form: a person signs in with their email address or their user name."""

    username = forms.CharField(
        label="Email or user name",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True,
                                      "autocapitalize": "none", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class NewPasswordForm(forms.Form):
    """A new password typed twice. The policy check itself runs in the service."""

    new_password = forms.CharField(
        label="New password", strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    confirm_password = forms.CharField(
        label="New password again", strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") != data.get("confirm_password"):
            self.add_error("confirm_password", "The two passwords are not the same.")
        return data


#: The choice, among where a new password goes, of this installation's own password.
HERE = "here"


class ChangePasswordForm(NewPasswordForm):
    """The person's own change. With ``accounts`` (value, label: their accounts on
    connected systems) it also asks where the new password goes: here, those accounts,
    or some of them; all are ticked at first."""

    current_password = forms.CharField(
        label="Current password", strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["current_password", "new_password", "confirm_password"]

    def __init__(self, *args, accounts: Sequence[tuple[str, str]] = (),
                 site_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if accounts:
            choices = [(HERE, f"{site_name} (signing in here)"), *accounts]
            self.fields["targets"] = forms.MultipleChoiceField(
                label="Where the new password goes", choices=choices,
                initial=[value for value, _ in choices],
                widget=forms.CheckboxSelectMultiple,
                error_messages={"required": "Choose at least one place for the new password."})

    def targets(self) -> tuple[bool, list[int] | None]:
        """(whether this installation's password changes, the accounts chosen: None for
        every one), from a valid form."""
        if "targets" not in self.fields:
            return True, None
        chosen = self.cleaned_data["targets"]
        accounts = [int(value) for value in chosen if value != HERE]
        every = len(accounts) == len(self.fields["targets"].choices) - 1
        here = HERE in chosen
        return here, None if every and here else accounts


class ResetRequestForm(forms.Form):
    """Ask for a reset link by email or user name. Every name gets the same answer."""

    email = forms.CharField(
        label="Email or user name", max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True,
                                      "autocapitalize": "none", "spellcheck": "false"}),
    )


def mark_errors(form: forms.Form, described_by: dict[str, str] | None = None) -> forms.Form:
    """Tie each field to what is said about it, and focus the first field in error.

    A field in error gets ``aria-invalid`` and ``aria-describedby`` pointing at its
    error list (ids as ``portal/_field.html`` writes them); ``described_by`` adds
    other ids per field (the password rules). The first field in error gets
    ``autofocus``, so the browser puts the cursor where the fix is, without a
    script; with no field in error, no field takes focus away from the page's text.
    """
    described_by = described_by or {}
    in_error = form.errors if form.is_bound else {}
    focused = False
    for name, field in form.fields.items():
        attrs = field.widget.attrs
        if in_error:
            attrs.pop("autofocus", None)
        ids = [described_by[name]] if name in described_by else []
        if name in in_error:
            ids.append(f"{form[name].id_for_label}-errors")
            attrs["aria-invalid"] = "true"
            if not focused:
                attrs["autofocus"] = True
                focused = True
        if ids:
            attrs["aria-describedby"] = " ".join(ids)
    return form
