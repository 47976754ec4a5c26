"""The wording of every mail Keystead sends: built-in defaults an administrator may override.

Each kind of mail has a fixed, documented set of placeholders, all plain text
(``{{ person_name }}``, ``{{ link }}``…), never objects: a template cannot
reach a person's record, the settings or anything but the values the mail
already carries. Templates are rendered by a dedicated Django template engine
with no loaders and only the ``if`` and ``comment`` tags and a few text filters,
so ``{% load %}``, ``{% include %}``, ``{% extends %}``, ``{% debug %}`` and
friends do not exist there. Mail is plain text, so nothing is HTML-escaped.

An override is checked before it is stored: it must parse (a syntax error is
refused naming its line), use only its kind's placeholders, and keep the
required ones (a reset mail without its link would be useless).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.template import (
    Context,
    Engine,
    Library,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import Template, Variable, VariableNode
from django.utils import timezone

from keystead.directory import audit, authorization
from keystead.directory.models import User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.login.models import MailTemplate
from keystead.secret import Secret

#: The only tags and filters a mail template may use (the engine's builtins).
register = Library()
register.tag("if", defaulttags.do_if)
register.tag("comment", defaulttags.comment)
for _name in ("upper", "lower", "title", "capfirst", "default"):
    register.filter(_name, getattr(defaultfilters, _name))

DEFAULTS_DIR = Path(__file__).parent / "templates" / "login" / "mail"
SUBJECT_MAX = 200

PERSON = {
    "person_name": "The person's given name",
    "email": "The person's email address",
}
COMMON = {
    "product_name": "The product's name as branded",
    "base_url": "The address of the portal, without a trailing slash",
}
SAMPLE_COMMON = {"person_name": "Ada", "email": "ada@example.com",
                 "base_url": "https://id.example.com"}


class _MailEngine(Engine):
    """Django's engine without its default tag libraries: only ``register`` above."""

    default_builtins: list[str] = []


ENGINE = _MailEngine(dirs=[], app_dirs=False, loaders=[], libraries={}, debug=True,
                     autoescape=False, builtins=["keystead.login.mail_templates"])


@dataclass(frozen=True)
class MailKind:
    """One kind of mail: its label, default wording and placeholders."""

    kind: str
    label: str
    default_subject: str
    placeholders: dict[str, str]
    required: tuple[str, ...]
    samples: dict[str, str] = field(default_factory=dict)
    personal: bool = True  # about one person's account (the test mail is not)

    @property
    def default_body(self) -> str:
        return (DEFAULTS_DIR / f"{self.kind}.txt").read_text()

    def all_placeholders(self) -> dict[str, str]:
        return {**(PERSON if self.personal else {}), **COMMON, **self.placeholders}


MINUTES = {"minutes": "How many minutes the link or code works"}
LINK = {"link": "The one-time link to choose a new password", **MINUTES}
KINDS: dict[str, MailKind] = {k.kind: k for k in (
    MailKind("reset", "Password reset (asked by the person)",
             "Reset your {{ product_name }} password", LINK, ("link",),
             {"link": "https://id.example.com/reset/SAMPLE-ONE-TIME-LINK", "minutes": "30"}),
    MailKind("reset_by_admin", "Password reset (sent by an administrator)",
             "Choose a new {{ product_name }} password", LINK, ("link",),
             {"link": "https://id.example.com/reset/SAMPLE-ONE-TIME-LINK", "minutes": "30"}),
    MailKind("email_code", "Sign-in code",
             "Your {{ product_name }} sign-in code",
             {"code": "The one-time sign-in code", **MINUTES}, ("code",),
             {"code": "482913", "minutes": "10"}),
    MailKind("locked", "Account locked",
             "Your {{ product_name }} account is locked",
             {"locked_until": "When the account unlocks by itself (empty when it stays "
                              "locked until an administrator unlocks it)"}, (),
             {"locked_until": "2026-01-01 12:00 UTC"}),
    MailKind("test", "Test mail (Settings → Mail)", "{{ product_name }} test mail", {}, (),
             personal=False),
)}


def _product_name() -> str:
    """The branded product name, or "Keystead" while no branding is set up."""
    try:
        from keystead.branding import current
    except ImportError:
        return "Keystead"
    return current().name


def _compile(source: str, where: str, kind: MailKind) -> Template:
    """Parse ``source`` with the mail engine; a problem is refused naming ``where`` and
    the line, and a name that is not one of the kind's placeholders is refused too."""
    try:
        template = ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        line = getattr(exc, "template_debug", {}).get("line")
        at = f" on line {line}" if line else ""
        raise RuleViolation([FieldProblem(where, f"The {where} cannot be used{at}: {exc}. "
                                                 "Only {{ placeholders }}, {% if %} and "
                                                 "{% comment %} are allowed.")]) from None
    known = kind.all_placeholders()
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        var = node.filter_expression.var
        if isinstance(var, Variable) and var.lookups and var.lookups[0] not in known:
            raise RuleViolation([FieldProblem(
                where, f"The {where} uses {{{{ {var.var} }}}}, which this mail does not have. "
                       f"Use one of: {', '.join(f'{{{{ {n} }}}}' for n in known)}.")])
    return template


def _render(source: str, where: str, kind: MailKind, values: dict[str, str]) -> str:
    return _compile(source, where, kind).render(Context(values, autoescape=False))


def _one_line(subject: str) -> str:
    """A subject is one header line: line breaks would be refused by the mail library."""
    return " ".join(subject.split())[:SUBJECT_MAX]


def sample_values(kind: MailKind) -> dict[str, str]:
    """Made-up values for the preview and for checking a template before it is stored."""
    return {**SAMPLE_COMMON, "product_name": _product_name(), **kind.samples}


def check(kind: MailKind, subject: str, body: str) -> tuple[str, str]:
    """Refuse a template that would not send properly; return it rendered with samples."""
    samples = sample_values(kind)
    rendered_subject = _one_line(_render(subject or kind.default_subject, "subject", kind,
                                         samples))
    rendered_body = _render(body or kind.default_body, "body", kind, samples)
    for name in kind.required:
        if samples[name] not in rendered_body:
            raise RuleViolation([FieldProblem(
                "body", f"The body must contain {{{{ {name} }}}}: without it the mail is "
                        "useless. Put it back where the person should see it.")])
    return rendered_subject, rendered_body


def current(kind: MailKind) -> tuple[str, str]:
    """The subject and body sources in use now (the override, or the default)."""
    row = MailTemplate.objects.filter(kind=kind.kind).first()
    return ((row.subject if row and row.subject else kind.default_subject),
            (row.body if row and row.body else kind.default_body))


def is_customised(kind: MailKind) -> bool:
    """Whether an administrator's wording is stored for ``kind``."""
    return MailTemplate.objects.filter(kind=kind.kind).exists()


def render(kind_name: str, values: dict[str, str]) -> tuple[str, Secret]:
    """The one way mail is worded: subject and body of ``kind_name`` from the stored
    override or the built-in default. The body is a Secret (it carries links and codes)."""
    kind = KINDS[kind_name]
    subject, body = current(kind)
    context = {"product_name": _product_name(), "base_url": settings.BASE_URL, **values}
    context = {name: str(context.get(name, "")) for name in kind.all_placeholders()}
    return (_one_line(_render(subject, "subject", kind, context)),
            Secret(_render(body, "body", kind, context)))


def require_superuser(actor: User, request: HttpRequest | None = None, kind: str = ""
                      ) -> None:
    """Mail wording is the installation's, not a person's (one rule in authorization)."""
    authorization.require_installation_setting(
        actor, event="mail_template.change", words="change mail templates", request=request,
        detail={"kind": kind})


def save(kind: MailKind, subject: str, body: str, *, actor: User,
         request: HttpRequest | None = None) -> bool:
    """Store an override after ``check``; a part equal to its default is stored blank (it
    then follows the default). Audited as ``mail_template.change`` with the names of the
    changed parts, never their text. Returns whether anything changed."""
    require_superuser(actor, request, kind.kind)
    subject = "" if subject.strip() == kind.default_subject else subject.strip()
    body = "" if body.strip() == kind.default_body.strip() else body.replace("\r\n", "\n")
    check(kind, subject, body)
    with transaction.atomic():
        row = MailTemplate.objects.select_for_update().filter(kind=kind.kind).first()
        before = (row.subject, row.body) if row else ("", "")
        changed = [name for name, old, new in (("subject", before[0], subject),
                                               ("body", before[1], body)) if old != new]
        if not changed:
            return False
        if subject or body:
            MailTemplate.objects.update_or_create(kind=kind.kind, defaults={
                "subject": subject, "body": body, "updated_at": timezone.now(),
                "updated_by": actor})
        else:
            MailTemplate.objects.filter(kind=kind.kind).delete()
        audit.record("mail_template.change", request=request, actor=actor,
                     detail={"kind": kind.kind, "fields": changed,
                             "customised": bool(subject or body)})
    return True


def restore_default(kind: MailKind, *, actor: User, request: HttpRequest | None = None
                    ) -> bool:
    """Drop the override of ``kind``; audited as ``mail_template.restore``."""
    require_superuser(actor, request, kind.kind)
    with transaction.atomic():
        deleted, _ = MailTemplate.objects.filter(kind=kind.kind).delete()
        if deleted:
            audit.record("mail_template.restore", request=request, actor=actor,
                         detail={"kind": kind.kind})
    return bool(deleted)
