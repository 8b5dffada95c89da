"""Keep secrets out of every log line, error message and piece of output.

singer-sdk marks settings `secret` but redacts nothing, botocore logs canonical
requests (headers included) at DEBUG, and error messages may quote responses. So the
tap registers every secret value the moment it knows it (settings at start-up, access
tokens, RDTs and STS keys when issued) and scrubs them in three places: the message of
every log record (a log-record factory sees records of every logger, including
third-party ones, before any handler formats them), the one-line error the CLI prints,
and the messages the client builds from Amazon's responses. Token-shaped strings
(`Atza|…`, `Atzr|…`, `Atz.sprdt|…`) are scrubbed even when not registered, as a second
line of defence for values we never saw (e.g. a token echoed back by a proxy), and so
are the signature, credential and session token of pre-signed links.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

MASK = "***"
# Secrets shorter than this are not registered: masking "a" everywhere would mangle
# every log line, and such a value cannot be a real credential anyway.
_MIN_SECRET_LENGTH = 6
_TOKEN_SHAPES = re.compile(r"Atz(?:a|r|\.sprdt)\|[A-Za-z0-9._\-|%+/=]+")
# A report document's pre-signed link grants access through its SigV4 query values,
# whatever the rest of the link says; masked by shape, so a link is hidden wherever it
# shows (the response a DEBUG log quotes, urllib3's request line) without registering
# each link as a secret (recompiling the pattern per link grew with the run).
_SIGNED_LINK_VALUES = re.compile(
    r"(X-Amz-(?:Signature|Credential|Security-Token)(?:=|%3D))[^&\s\"'<>\\]+", re.IGNORECASE
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: object) -> None:
    """Remember a secret value so that `redact` removes it from any text."""
    global _pattern
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LENGTH:
        return
    if _TOKEN_SHAPES.fullmatch(value):
        # Masked by its shape already: access tokens and RDTs come by the hundred in a
        # long run (and by the thousand in a test session), and each registration
        # recompiles the pattern of every secret.
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first so a secret containing another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def redact(text: str) -> str:
    """Return `text` with every registered secret and token-shaped string masked."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _SIGNED_LINK_VALUES.sub(rf"\g<1>{MASK}", text)
    return _TOKEN_SHAPES.sub(MASK, text)


class _RedactingFactory:
    """A log record factory that scrubs each record `base` makes."""

    def __init__(self, base: Callable[..., logging.LogRecord]) -> None:
        self._base = base

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call; let logging report it
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters reuse exc_text when it is set, so the traceback is scrubbed too.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
        return record


def install_log_redaction() -> None:
    """Scrub secrets from every log record created from now on (idempotent).

    Process-wide, so called where the tap starts, never at import: the commands' `main`
    and `TapSpapi.__init__` (singer-sdk's `TapSpapi.cli` and code that builds a tap).
    """
    base = logging.getLogRecordFactory()
    if not isinstance(base, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(base))
