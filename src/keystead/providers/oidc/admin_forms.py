"""The console's form for an OpenID Connect application, in Keystead's words and rules.

The form collects what the REST API's ``POST /api/v1/clients`` takes (name,
client type, grants, redirect URIs, consent, token settings) and the admin
saves it through the same service functions (``clients.register_client`` and
``clients.change_client``), so the console, the REST API and the CLI accept
exactly the same registrations and record the same audit Events.

What the toolkit's own form asks for is not here: the client id and secret
are generated (the secret is shown once, after saving), the ID token algorithm
is RS256 (OpenID Connect on; ES256 is a token setting), the grant list replaces
the toolkit's single grant type, and PKCE is required for every application by
the site's settings.

The toolkit's model validation (``Application.clean``) is not run: it would
repeat a problem Keystead already named in the toolkit's wording, and it
refuses addresses the REST API accepts (a single-label intranet host such as
``https://wiki/callback``). Keystead's rules (``clients.registration_problems``)
are checked in ``clean`` instead, each problem on the field it concerns.
"""

from __future__ import annotations

from typing import Any

from django import forms
from oauth2_provider.models import get_application_model

from keystead.providers.oidc import grants
from keystead.providers.oidc.clients import (
    MAX_URI_LENGTH,
    SETTINGS_FIELDS,
    allowed_grants_of,
    registration_problems,
)
from keystead.providers.oidc.models import ClientSettings, settings_for

Application = get_application_model()

MAX_SECONDS = 10 * 365 * 24 * 3600  # as the REST API's ``Seconds``
MAX_URIS = 20  # as the REST API


class UriListField(forms.Field):
    """Addresses, one per line (spaces also separate them), cleaned to a list."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80, "spellcheck": "false",
                                   "autocapitalize": "none"})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return list(value)
        return (value or "").split()

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > MAX_URIS:
            raise forms.ValidationError(f"List at most {MAX_URIS} addresses.")
        for uri in value:
            if len(uri) > MAX_URI_LENGTH:
                raise forms.ValidationError(
                    f"An address may have at most {MAX_URI_LENGTH} characters.")


def _setting(name: str, **kwargs: Any) -> forms.Field:
    """A token-settings field as the model defines it (label, help text, choices)."""
    field = ClientSettings._meta.get_field(name).formfield(**kwargs)
    label = str(field.label)
    field.error_messages.update({
        "invalid_choice": f"{label}: %(value)s is not one of the choices offered.",
        "invalid": f"{label}: give a whole number of seconds.",
        "min_value": f"{label}: give at least %(limit_value)s second, or leave it empty for "
                     "the site default.",
        "max_value": f"{label}: give at most %(limit_value)s seconds (ten years).",
    })
    return field


_URI_HELP = ("One address per line, compared exactly: https://, or http:// only for "
             "localhost, 127.0.0.1 and [::1]; no wildcards, no #fragment.")

# The service's field names (REST API) -> this form's.
_FORM_FIELD = {"grant_types": "allowed_grants"}


class ApplicationForm(forms.ModelForm):
    """Register or change an application; the admin saves it through ``clients``."""

    name = forms.CharField(
        max_length=255, error_messages={
            "required": "Name: give the application a name people will recognise.",
            "max_length": "Name: at most %(limit_value)d characters."},
        help_text="Shown to people on the consent page and in the audit log.")
    client_type = forms.ChoiceField(
        label="Client type", initial=Application.CLIENT_CONFIDENTIAL,
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
        error_messages={"required": "Client type: choose confidential or public.",
                        "invalid_choice": "Client type: choose confidential or public."},
        choices=[(Application.CLIENT_CONFIDENTIAL,
                  "Confidential: runs on a server and keeps a client secret"),
                 (Application.CLIENT_PUBLIC,
                  "Public: a browser or mobile app; it has no secret and proves itself "
                  "with PKCE")],
        help_text="Cannot be changed later.")
    allowed_grants = forms.MultipleChoiceField(
        label="Allowed grants", choices=grants.CHOICES, widget=forms.CheckboxSelectMultiple,
        required=False, error_messages={
            "invalid_choice": "Allowed grants: %(value)s is not offered; tick authorization "
                              "code, client credentials or password."},
        help_text="Authorization code always with PKCE. Refresh tokens come with authorization "
                  "code and password unless the token settings turn them off. Password only "
                  "for an application that must send people's passwords.")
    redirect_uris = UriListField(
        label="Redirect URIs", required=False,
        help_text="Where Keystead sends people back after they sign in. " + _URI_HELP)
    post_logout_redirect_uris = UriListField(
        label="Sign-out redirect URIs", required=False,
        help_text="Where the application may send people after signing them out. " + _URI_HELP)
    skip_consent = forms.BooleanField(
        label="Skip the consent page", required=False,
        help_text="For the organisation's own applications: people are signed straight in "
                  "without being asked to share their details.")

    issue_refresh_tokens = _setting("issue_refresh_tokens")
    rotate_refresh_tokens = _setting("rotate_refresh_tokens")
    access_token_seconds = _setting("access_token_seconds", min_value=1, max_value=MAX_SECONDS)
    refresh_token_seconds = _setting("refresh_token_seconds", min_value=1, max_value=MAX_SECONDS)
    id_token_algorithm = _setting("id_token_algorithm")
    subject_type = _setting("subject_type")
    sector_identifier = _setting("sector_identifier")
    backchannel_logout_uri = _setting("backchannel_logout_uri")
    backchannel_logout_session_required = _setting("backchannel_logout_session_required")

    class Meta:
        model = Application
        fields: list[str] = []  # every field is declared above; the services save them

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app = self.instance
        if app.pk is None:
            self.initial.setdefault("allowed_grants", [grants.AUTHORIZATION_CODE])
            return
        # The client type is fixed once registered (it decides whether there is a secret).
        self.fields.pop("client_type", None)
        client_settings = settings_for(app)
        self.initial.update({
            "name": app.name,
            "allowed_grants": allowed_grants_of(app),
            "redirect_uris": app.redirect_uris.split(),
            "post_logout_redirect_uris": app.post_logout_redirect_uris.split(),
            "skip_consent": app.skip_authorization,
            **{field: getattr(client_settings, field) for field in SETTINGS_FIELDS},
        })

    @property
    def client_type_value(self) -> str:
        if self.instance.pk is not None:
            return self.instance.client_type
        return self.cleaned_data.get("client_type") or ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        problems = registration_problems(
            client_type=self.client_type_value,
            grant_types=grants.ordered(cleaned.get("allowed_grants") or []),
            redirect_uris=cleaned.get("redirect_uris") or [],
            post_logout_redirect_uris=cleaned.get("post_logout_redirect_uris") or [],
            name=cleaned.get("name") or ("-" if "name" in self.errors else ""),
            backchannel_logout_uri=(cleaned.get("backchannel_logout_uri") or "").strip())
        for problem in problems:
            field = problem.field.split(".")[0]
            field = _FORM_FIELD.get(field, field)
            if field not in self.fields:
                field = None
            label = self.fields[field].label if field else "Application"
            self.add_error(field, f"{label}: {problem.message}.")
        if (cleaned.get("sector_identifier") and cleaned.get("subject_type") != "pairwise"
                and "sector_identifier" not in self.errors):
            self.add_error("sector_identifier", "Sector identifier: used only with pairwise "
                                                "subject identifiers; choose Pairwise above "
                                                "or leave it empty.")
        return cleaned

    def _post_clean(self) -> None:
        """Skip the toolkit's model validation (see the module docstring): the admin saves
        through ``clients``, which applies Keystead's rules, checked in ``clean``."""

    # -- what the services take ---------------------------------------------

    def settings_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {field: data[field] for field in SETTINGS_FIELDS}
        values["sector_identifier"] = (values["sector_identifier"] or "").strip()
        values["backchannel_logout_uri"] = (values["backchannel_logout_uri"] or "").strip()
        return values

    def registration(self) -> dict[str, Any]:
        """Keyword arguments for ``clients.register_client``."""
        data = self.cleaned_data
        return {"name": data["name"], "client_type": data["client_type"],
                "grant_types": grants.ordered(data["allowed_grants"]),
                "redirect_uris": data["redirect_uris"],
                "post_logout_redirect_uris": data["post_logout_redirect_uris"],
                "skip_consent": data["skip_consent"], "settings": self.settings_values()}

    def changes(self) -> dict[str, Any]:
        """The ``changes`` for ``clients.change_client``: only what the form changed."""
        data = self.cleaned_data
        every = {"name": data["name"], "grant_types": grants.ordered(data["allowed_grants"]),
                 "redirect_uris": data["redirect_uris"],
                 "post_logout_redirect_uris": data["post_logout_redirect_uris"],
                 "skip_consent": data["skip_consent"], **self.settings_values()}
        changed = {name for name in every if _FORM_FIELD.get(name, name) in self.changed_data}
        return {name: every[name] for name in changed}
