"""``keystead manage saml_rotate_key [--overlap-days N]``: rotate the SAML IdP signing key."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandParser

from keystead.directory.authorization import OPERATOR
from keystead.providers.saml import keys, services


class Command(BaseCommand):
    help = ("Publish a new SAML signing key now; it signs after the overlap, and the current "
            "key stays published for the overlap after that.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--overlap-days", type=int, default=keys.DEFAULT_OVERLAP.days,
                            help="days before the new key signs (0: at once)")

    def handle(self, *args, overlap_days: int, **options) -> None:
        new = services.rotate_key(actor=OPERATOR, overlap=dt.timedelta(days=overlap_days))
        self.stdout.write(f"New signing key published; it signs from "
                          f"{new.signs_from:%Y-%m-%d %H:%M} UTC.")
