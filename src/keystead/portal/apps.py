from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "keystead.portal"
    label = "portal"
    verbose_name = "Self-service portal"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from keystead.login import sessions

        # The portal's list of sessions names each by its browser: note it at sign-in.
        user_logged_in.connect(sessions.note_browser,
                               dispatch_uid="keystead.login.sessions.note_browser")
