"""Logging: human-readable or JSON lines, always passed through a redaction filter."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime

from keystead.secret import REDACTED, scrub

# key=value or "key": "value" pairs whose key names a secret, e.g. in a logged query string.
_SENSITIVE_PAIR = re.compile(
    r"""(?ix)
    (["']?(?<![A-Za-z0-9_])(?:password|passwd|secret|token|authorization|api[_-]?key|otp|code)["']?
    \s*[:=]\s*)
    (?:Bearer\s+)?("[^"]*"|'[^']*'|[^\s&,;"']+)
    """
)


# A mailed password-reset link, /reset/<token>: its path is the credential. Hidden in every
# line, so Django's warnings and runserver's and gunicorn's access logs never hold one.
_RESET_LINK = re.compile(r"(/reset/)[A-Za-z0-9_-]{20,}")


def redact_text(text: str) -> str:
    text = _SENSITIVE_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    return _RESET_LINK.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Redact Secret values and secret-looking key/value pairs from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            if isinstance(record.args, dict):
                record.args = scrub(record.args)
            else:
                record.args = tuple(scrub(a) for a in record.args)
        message = record.getMessage()
        record.msg = redact_text(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        return redact_text(super().formatException(ei))


class RedactLineFilter(logging.Filter):
    """Redact the finished line. For gunicorn, whose access-log arguments are a mapping
    that answers any header name; copying it, as ``RedactSecretsFilter`` does, would not."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def gunicorn_logger_class() -> type:
    """gunicorn's logger with the redaction on its own handlers.

    gunicorn writes its access and error logs through handlers of its own, outside
    the configuration below; without this an access line would show a reset link.
    A function, so gunicorn is imported only where it runs (its ``logger_class``
    setting calls it).
    """
    from gunicorn.config import AccessLogFormat
    from gunicorn.glogging import Logger

    class RedactingLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    if not any(isinstance(f, RedactLineFilter) for f in handler.filters):
                        handler.addFilter(RedactLineFilter())

        def access(self, resp, req, environ, request_time) -> None:
            """gunicorn's combined-format line, written without gunicorn's table of every
            request header, response header and environ key (built for formats that may
            name any of them): that table cost about a tenth of a token grant's CPU. Any
            other ``access_log_format`` goes through gunicorn's own way."""
            if (self.cfg.access_log_format != AccessLogFormat.default
                    or not self.access_log_enabled):
                super().access(resp, req, environ, request_time)
                return
            self.access_log.info(combined_line(
                environ, status=resp.status, sent=getattr(resp, "sent", None),
                user=self._get_user(environ), when=self.now()))

    return RedactingLogger


def combined_line(environ: dict, *, status: str | int, sent: int | None, user: str | None,
                  when: str) -> str:
    """One access-log line in gunicorn's default (Apache combined) format:
    ``host - user [time] "request line" status bytes "referer" "user agent"``, with
    double quotes in the values escaped as gunicorn escapes them."""
    def safe(value: str) -> str:
        return value.replace('"', '\\"')

    code = status.split(None, 1)[0] if isinstance(status, str) else status
    request_line = safe(f"{environ['REQUEST_METHOD']} {environ['RAW_URI']}"
                        f" {environ['SERVER_PROTOCOL']}")
    return (f"{safe(environ.get('REMOTE_ADDR', '-'))} - {safe(user or '-')} {when}"
            f' "{request_line}" {code} {sent if sent is not None else "-"}'
            f' "{safe(environ.get("HTTP_REFERER", "-"))}"'
            f' "{safe(environ.get("HTTP_USER_AGENT", "-"))}"')


def configure_logging(fmt: str, level: str) -> None:
    formatter = "json" if fmt == "json" else "human"
    # No format here or in gunicorn shows the calling function or thread, so records need
    # not carry them: finding the caller walks the stack on every line, and every token
    # grant and sign-in writes one (the audit mirror) besides the access line. These are
    # switches the logging documentation's "Optimization" section names (gunicorn's error
    # lines show the process id, so that one stays).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactSecretsFilter}},
            "formatters": {
                "human": {
                    "()": HumanFormatter,
                    "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
                },
                "json": {"()": JsonFormatter},
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": formatter,
                    "filters": ["redact"],
                }
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django": {"level": level, "propagate": True},
                "django.server": {"level": level, "propagate": True},
            },
        }
    )
