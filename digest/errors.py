"""One typed error family; the CLI turns any of them into a one-line message."""

from __future__ import annotations

from enum import IntEnum


class DigestError(Exception):
    """Base of every error paper-digest raises on purpose.

    `hint` says what the user can do about it; the CLI prints it after the message.
    """

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(DigestError):
    """The configuration file or an option is wrong."""


class StoreError(DigestError):
    """The SQLite store cannot be opened or is from a newer version."""


class SourceError(DigestError):
    """A source could not be read; carries the source spec it came from."""

    def __init__(self, source: str, message: str, *, hint: str | None = None):
        super().__init__(f"{source}: {message}", hint=hint)
        self.source = source
        self.detail = message  # without the source, for tables that name it already


class FetchError(DigestError):
    """An HTTP download failed; carries the URL, the status (if any) and whether a retry may help."""

    def __init__(self, url: str, message: str, *, status: int | None = None,
                 retry: bool = False, hint: str | None = None):
        super().__init__(f"{url}: {message}", hint=hint)
        self.url = url
        self.status = status
        self.retry = retry


class PdfError(DigestError):
    """A PDF could not be turned into page texts; `reason` is a short machine-friendly word."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class LLMError(DigestError):
    """A model call failed after its retries; carries the model id and HTTP status."""

    def __init__(self, model: str, message: str, *, status: int | None = None,
                 retry: bool = False, hint: str | None = None):
        super().__init__(f"{model}: {message}", hint=hint)
        self.model = model
        self.status = status
        self.retry = retry


class BudgetError(DigestError):
    """The estimated cost is above `max_cost` and --yes was not given."""


class MailError(DigestError):
    """Sending mail failed in a way that stops the whole send."""


class NotFoundError(DigestError):
    """A paper, issue or subscriber named on the command line does not exist."""


class QualityGateError(DigestError):
    """The model failed for too many of an issue's papers: the issue is kept as a draft, nothing is sent."""


class ExitStatus(IntEnum):
    """The exit codes of every `digest` command, for cron and CI (docs/exit-codes.md)."""

    SUCCESS = 0  # everything asked for was done
    ERROR = 1  # nothing useful was done: bad config, unreachable source, rejected key, a failed send
    USAGE = 2  # the command line itself is wrong (click's own code)
    PARTIAL = 3  # done, but not all of it: a source failed, deliveries deferred or unknown
    QUALITY_GATE = 4  # the issue was written but held as a draft: the model failed for too many papers
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; what was finished is kept
