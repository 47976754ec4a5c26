"""Settings → Branding in the console: the form, for superusers only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from keystead.branding import current, rules
from keystead.branding.services import BrandChange, BrandingRefused, change_branding


class BrandingForm(forms.Form):
    name = forms.CharField(label="Product name",
                           help_text="Shown in page headers, titles and mails.")
    accent = forms.CharField(label="Accent colour",
                             help_text="#rrggbb; buttons carry white text on it, so it must be "
                                       "dark enough (contrast at least 4.5:1).")
    # Lengths are checked by ``rules``, whose messages name the field and the fix.
    message = forms.CharField(label="Sign-in message", required=False, strip=False,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text="Plain text on the sign-in page, at most 500 characters.")
    logo = forms.FileField(label="New logo", required=False,
                           help_text="PNG, JPEG or SVG, at most 200 KB.")
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)


def branding_view(request: HttpRequest) -> HttpResponse:
    """Show and change the branding; every change goes through ``change_branding``."""
    if not request.user.is_superuser:
        raise PermissionDenied
    brand = current(request)
    if request.method == "POST":
        form = BrandingForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["logo"]
            logo = upload.read(rules.LOGO_LIMIT + 1) if upload else (
                b"" if form.cleaned_data["remove_logo"] else None)
            try:
                changed = change_branding(BrandChange(
                    name=form.cleaned_data["name"], accent=form.cleaned_data["accent"].lower(),
                    message=form.cleaned_data["message"].replace("\r\n", "\n"), logo=logo,
                ), actor=request.user, request=request)
            except BrandingRefused as refused:
                for field, text in refused.problems.items():
                    form.add_error(field, text)
            else:
                messages.success(request, f"Branding saved ({', '.join(changed)} changed)."
                                 if changed else "Nothing changed.")
                return HttpResponseRedirect(reverse("admin:branding"))
    else:
        form = BrandingForm(initial={"name": brand.name, "accent": brand.accent,
                                     "message": brand.message})
    status = 400 if form.is_bound and form.errors else 200
    return TemplateResponse(request, "admin/branding_settings.html", {
        **admin.site.each_context(request), "title": "Branding", "form": form, "brand": brand,
    }, status=status)
