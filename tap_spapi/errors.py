"""Errors a user can act on.

Every error the tap raises on purpose derives from `TapSpapiError`; the command-line
entry point prints its message as one line (secrets redacted) and exits non-zero
instead of showing a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class TapSpapiError(Exception):
    """Base class: the message is complete and safe to show."""


class SettingError(TapSpapiError):
    """A setting is missing, malformed or inconsistent; the message names it."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"setting '{setting}': {problem}")


class MissingExtraError(SettingError):
    """A setting needs an optional dependency that is not installed."""


@dataclass(frozen=True)
class AmazonError:
    """What Amazon said about a failed request, for messages and tests."""

    status: int
    code: str
    message: str
    details: str
    request_id: str

    def describe(self) -> str:
        """One human line: `HTTP 400 InvalidInput: message (details) [x-amzn-RequestId: …]`."""
        text = f"HTTP {self.status}"
        if self.code:
            text += f" {self.code}"
        if self.message:
            text += f": {self.message}"
        if self.details:
            text += f" ({self.details})"
        return f"{text} [x-amzn-RequestId: {self.request_id or 'none'}]"


class AccountUnavailableError(TapSpapiError):
    """Nothing can be extracted for an account this run (its other streams are skipped)."""


class AuthError(AccountUnavailableError):
    """Login with Amazon, STS or the Tokens API refused to issue credentials."""


class EndpointUnreachableError(AccountUnavailableError):
    """An account's SP-API endpoint never answered (refused, or not with JSON)."""


class RefusedAfterSuccessError(TapSpapiError):
    """Amazon refuses (403) a stream for an account it succeeded for in an earlier run:
    an outage, a proxy, or a role revoked since, not a role never granted; unlike a
    missing role, it fails the run whatever `strict` says."""
