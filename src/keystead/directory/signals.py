"""Signals other parts of Keystead listen to."""

from django.dispatch import Signal

# Sent after a user's password changed, with ``user`` and ``request`` (may be None).
# Whatever hands out long-lived credentials (refresh tokens, remembered browsers)
# revokes them here, so a new password locks out whoever knew the old one.
password_changed = Signal()

# Sent after a person's email address changed, with ``user`` and ``request`` (may be None):
# whatever was mailed to the old address (reset links) stops working.
email_changed = Signal()

# Sent when a person's access must end everywhere (signed out by an administrator or by
# themselves, or the account disabled), with ``user``, ``request`` (may be None) and
# ``reason``. Sessions, remembered browsers and issued tokens end here; enabling the
# account again does not bring them back.
access_ended = Signal()

# Sent after a person's own details changed (``update_user``, ``set_active``), inside the
# change's transaction, with ``user``, ``request`` (may be None), ``changed`` (the names of
# the fields that changed) and ``before`` (their values before). Connected systems follow
# here; a receiver that raises ``RuleViolation`` refuses the whole change.
person_changed = Signal()

# Sent when some of a person's browser sessions are ended one by one (the person ending
# one, or all but the one they use), before they are deleted, inside the ending's
# transaction, with ``user`` and ``session_data`` (each ended session's decoded data).
# Applications signed in through those sessions are told here (back-channel logout).
sessions_ended = Signal()
