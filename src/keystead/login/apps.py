from django.apps import AppConfig


class LoginConfig(AppConfig):
    name = "keystead.login"
    label = "login"
    verbose_name = "Sign-in"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from keystead.directory.signals import access_ended, email_changed, password_changed
        from keystead.login import (
            backup_codes,
            email_codes,
            factors,
            passkeys,
            remembered,
            reset,
            sessions,
            totp,
        )

        factors.register(factors.FactorMethod(
            key="passkey", label="Your passkey", url_name="login_verify_passkey",
            available=passkeys.available, reset=passkeys.reset, order=10, enrolled=True))
        email_codes.register()
        totp.register()
        backup_codes.register()
        password_changed.connect(remembered.on_password_changed,
                                 dispatch_uid="keystead.login.remembered.password_changed")
        password_changed.connect(reset.end_links, dispatch_uid="keystead.login.reset.password")
        email_changed.connect(reset.end_links, dispatch_uid="keystead.login.reset.email")
        user_logged_in.connect(sessions.on_signed_in, dispatch_uid="keystead.login.sessions")
        access_ended.connect(sessions.on_access_ended,
                             dispatch_uid="keystead.login.sessions.access_ended")
        access_ended.connect(remembered.on_access_ended,
                             dispatch_uid="keystead.login.remembered.access_ended")
