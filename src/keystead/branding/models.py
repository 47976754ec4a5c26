"""The installation's one branding record: what people see instead of "Keystead"."""

from __future__ import annotations

from django.db import models

DEFAULT_NAME = "Keystead"
#: The colour the stylesheets used before branding existed; white text on it passes AA.
DEFAULT_ACCENT = "#1f5f8b"


class BrandSetting(models.Model):
    """A singleton (always ``pk=1``), stored in the database so every web process serves
    the same name, colour and logo without a shared file system."""

    name = models.CharField(max_length=80, default=DEFAULT_NAME)
    accent = models.CharField(max_length=7, default=DEFAULT_ACCENT)
    message = models.TextField(max_length=500, blank=True, default="")
    logo = models.BinaryField(null=True, blank=True, editable=False)
    logo_type = models.CharField(max_length=40, blank=True, default="")
    #: Raised on every change; the stylesheet and logo addresses carry it so browsers
    #: may cache them for long and still see a change at once.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "branding"
        verbose_name_plural = "branding"

    def __str__(self) -> str:
        return self.name
