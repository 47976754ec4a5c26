"""The console's form for a SAML application: metadata by URL or XML, signing, NameID,
and one SAML name per releasable attribute (empty: not released)."""

from __future__ import annotations

from django import forms

from keystead.providers.saml import services
from keystead.providers.saml.models import RELEASABLE, SamlApplication

ATTRIBUTE_LABELS = {"email": "Email", "given_name": "Given name", "family_name": "Family name",
                    "username": "User name", "groups": "Groups"}


def attribute_field(what: str) -> str:
    return f"attribute_{what}"


def _attribute_form_field(what: str, default_name: str) -> forms.CharField:
    return forms.CharField(
        label=f"{ATTRIBUTE_LABELS[what]} as", required=False, max_length=255,
        help_text=f"The SAML attribute name for the person's {ATTRIBUTE_LABELS[what].lower()} "
                  f"(e.g. {default_name}); empty: not released.")


class SamlApplicationForm(forms.ModelForm):
    attribute_email = _attribute_form_field("email", RELEASABLE["email"])
    attribute_given_name = _attribute_form_field("given_name", RELEASABLE["given_name"])
    attribute_family_name = _attribute_form_field("family_name", RELEASABLE["family_name"])
    attribute_username = _attribute_form_field("username", RELEASABLE["username"])
    attribute_groups = _attribute_form_field("groups", RELEASABLE["groups"])

    class Meta:
        model = SamlApplication
        fields = ("name", "slug", "enabled", "metadata_url", "metadata_xml", "sign_response",
                  "sign_assertion", "encryption", "nameid_format", "relay_state")
        widgets = {"metadata_xml": forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})}
        help_texts = {"metadata_xml": "Paste the SP's metadata, or leave empty and give its "
                                      "metadata URL. Re-import: empty this box and save."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.attributes if self.instance.pk else RELEASABLE
        for what in RELEASABLE:
            self.fields[attribute_field(what)].initial = current.get(what, "")
        self.settings: services.ApplicationSettings | None = None

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        wanted = services.ApplicationSettings(
            name=data.get("name", ""), slug=data.get("slug", ""),
            metadata_xml=data.get("metadata_xml", ""), metadata_url=data.get("metadata_url", ""),
            sign_response=data.get("sign_response", False),
            sign_assertion=data.get("sign_assertion", False),
            encryption=data.get("encryption", ""), nameid_format=data.get("nameid_format", ""),
            attributes={what: data.get(attribute_field(what), "").strip()
                        for what in RELEASABLE},
            relay_state=data.get("relay_state", ""), enabled=data.get("enabled", False))
        try:
            xml, _ = services.check(wanted, self.instance if self.instance.pk else None)
        except services.ApplicationRefused as refused:
            for name, message in refused.problems.items():
                self.add_error(name if name in self.fields else None, message)
            return data
        wanted.metadata_xml = xml  # fetched once, here
        self.settings = wanted
        return data
