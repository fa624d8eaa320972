"""Errors a user can cause or fix; the CLI and UI turn them into one clear sentence."""


class QAError(Exception):
    """Base class: a problem explained to the user in one line, never a traceback."""

    exit_code = 1


class InputError(QAError):
    """The user's input (a question, a flag, a file) is not usable."""

    exit_code = 2


class NotIndexedError(QAError):
    """A question was asked before anything was indexed."""

    exit_code = 3


class StaleIndexError(NotIndexedError):
    """A cited file changed after it was indexed, so its offsets no longer hold."""


class SourceUnavailable(StaleIndexError):
    """An indexed file cannot be read now: gone, unreadable, too large, or leading outside
    the corpus folder; its quotes cannot be checked."""


class CorpusError(QAError):
    """The corpus folder is missing, empty or holds nothing readable."""

    exit_code = 4


class BackendError(QAError):
    """A model, store or server could not be loaded or reached."""

    exit_code = 5


class IndexBusyError(QAError):
    """Another ingest is writing to the same index."""

    exit_code = 7


class Cancelled(QAError):
    """Work stopped on request (Stop in the UI, Ctrl-C)."""

    exit_code = 130
