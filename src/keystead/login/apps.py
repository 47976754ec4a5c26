from django.apps import AppConfig


class LoginConfig(AppConfig):
    name = "keystead.login"
    label = "login"
    verbose_name = "Sign-in"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from keystead import random_strings
        from keystead.login import factors, last_login, passkeys

        random_strings.install()  # CSRF secrets and masks from one system call each

        # Connected before django.contrib.auth's ready() (this app comes first in
        # INSTALLED_APPS) under the dispatch_uid auth uses for its update_last_login,
        # which therefore is not connected: one receiver writes last_login.
        user_logged_in.connect(last_login.record_last_login,
                               dispatch_uid=last_login.DISPATCH_UID)

        factors.register(factors.FactorMethod(
            key="passkey", label="Your passkey", url_name="login_verify_passkey",
            available=passkeys.available, reset=passkeys.reset, order=10))
        from keystead.directory.signals import password_changed
        from keystead.login import email_codes, remembered

        email_codes.register()
        password_changed.connect(remembered.on_password_changed,
                                 dispatch_uid="keystead.login.remembered.password_changed")
        from keystead.login import backup_codes, totp

        totp.register()
        backup_codes.register()
