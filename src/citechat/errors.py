"""The errors a person can act on, and the one place any error becomes the line they are shown.

Every error the user can fix is a `CitechatError`: its message says what happened, then the command, flag or
variable that fixes it. The command line prints `citechat: <message>` and exits 2; the chat window and the HTTP
APIs show the same text. `user_message` is the only function that turns an exception into text for a person,
and it hides configured secrets.
"""

from __future__ import annotations


class CitechatError(Exception):
    """A problem the user can fix; the message says what to do next."""


class SettingsError(CitechatError, ValueError):
    """A setting (argument or CITECHAT_* variable) with a value citechat cannot use."""


class BadRequest(CitechatError, ValueError):
    """A request to a served endpoint that citechat cannot read (wrong types, malformed history)."""


def user_message(exc: BaseException) -> str:
    """One line for a person: the message of a CitechatError, or for anything else only its kind (the
    details of an unexpected error belong in the log, not in front of the user). Secrets are redacted."""
    from .config import redact

    if isinstance(exc, CitechatError):
        text = str(exc)
    else:
        text = f"Something went wrong ({type(exc).__name__}); the details are in the log of citechat."
    return redact(" ".join(text.split()))


def log_line(exc: BaseException) -> str:
    """One line for a log: the kind and text of any error, secrets redacted."""
    from .config import redact

    return redact(" ".join(f"{type(exc).__name__}: {exc}".split()))
