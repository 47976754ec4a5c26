"""Forms of the self-service pages."""

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


class ChangePasswordForm(NewPasswordForm):
    current_password = forms.CharField(
        label="Current password", strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["current_password", "new_password", "confirm_password"]


class ResetRequestForm(forms.Form):
    """Ask for a reset link by email or user name. Every name gets the same answer."""

    email = forms.CharField(
        label="Email or user name", max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True,
                                      "autocapitalize": "none", "spellcheck": "false"}),
    )
