from django.apps import AppConfig


class LoginConfig(AppConfig):
    name = "keystead.login"
    label = "login"
    verbose_name = "Sign-in"
