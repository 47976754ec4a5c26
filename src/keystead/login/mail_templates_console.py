"""Settings → Mail templates in the console: the list of mails, an edit page with the
placeholders listed and a preview, and "restore default". Superusers only, as the
wording is the installation's; the rules and the audit live in
``keystead.login.mail_templates``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from keystead.directory.rules import RuleViolation
from keystead.login import mail_templates
from keystead.login.mail_templates import KINDS, MailKind


class MailTemplateForm(forms.Form):
    subject = forms.CharField(
        max_length=mail_templates.SUBJECT_MAX, required=False,
        widget=forms.TextInput(attrs={"class": "vLargeTextField", "size": 80}),
        help_text="One line; left empty, the built-in subject is used.")
    body = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 16, "cols": 80}),
        help_text="Plain text; left empty, the built-in text is used.")


def _superuser_only(request: HttpRequest) -> None:
    if not request.user.is_superuser:
        raise PermissionDenied


def mail_templates_view(request: HttpRequest) -> HttpResponse:
    """Every mail Keystead sends, and whether its wording is customised."""
    _superuser_only(request)
    rows = [(kind, mail_templates.is_customised(kind)) for kind in KINDS.values()]
    return TemplateResponse(request, "admin/mail_templates.html", {
        **admin.site.each_context(request), "title": "Mail templates", "rows": rows})


def mail_template_view(request: HttpRequest, kind: str) -> HttpResponse:
    """Edit one mail: preview with sample values, save, or restore the default."""
    mail_kind: MailKind | None = KINDS.get(kind)
    if request.method == "POST":  # an attempted change: refused and audited in the service
        mail_templates.require_superuser(request.user, request, kind if mail_kind else "")
    _superuser_only(request)
    if mail_kind is None:
        raise Http404("No such mail.")
    subject, body = mail_templates.current(mail_kind)
    form = MailTemplateForm(initial={"subject": subject, "body": body})
    preview = None
    status = 200
    if request.method == "POST":
        if "_restore" in request.POST:
            if mail_templates.restore_default(mail_kind, actor=request.user, request=request):
                messages.success(request, f"“{mail_kind.label}” uses the built-in wording again.")
            return HttpResponseRedirect(reverse("admin:mail_templates"))
        form = MailTemplateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if "_preview" in request.POST:
                    preview = mail_templates.check(mail_kind, data["subject"], data["body"])
                else:
                    changed = mail_templates.save(mail_kind, data["subject"], data["body"],
                                                  actor=request.user, request=request)
                    messages.success(request, f"“{mail_kind.label}” saved." if changed
                                     else f"“{mail_kind.label}” was not changed.")
                    return HttpResponseRedirect(reverse("admin:mail_templates"))
            except RuleViolation as refused:
                for problem in refused.problems:
                    form.add_error(problem.field, problem.message)
        if form.errors:
            status = 400
    return TemplateResponse(request, "admin/mail_template_edit.html", {
        **admin.site.each_context(request), "title": f"Mail template: {mail_kind.label}",
        "kind": mail_kind, "form": form, "preview": preview,
        "placeholders": mail_kind.all_placeholders().items(),
        "customised": mail_templates.is_customised(mail_kind)}, status=status)
