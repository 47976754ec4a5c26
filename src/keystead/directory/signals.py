"""Signals other parts of Keystead listen to."""

from django.dispatch import Signal

# Sent after a user's password changed, with ``user`` and ``request`` (may be None).
# Whatever hands out long-lived credentials (refresh tokens, remembered browsers)
# revokes them here, so a new password locks out whoever knew the old one.
password_changed = Signal()
