"""The one error model of the commands and the worker.

Every failure the node expects and can explain (a bad setting, an unusable series, a missing
checkpoint, a registration that failed) is a :class:`NodeError`. ``seganypet-node`` prints it
as one line and exits with its :attr:`~NodeError.exit_code`; a worker records it on the job
and retries it only when it is not :attr:`~NodeError.permanent`. Anything else is a bug or
the machine's trouble (a full disk, a lost database): the worker logs its traceback and
retries it while attempts remain.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class NodeError(Exception):
    """A failure with a message for the person who has to act on it.

    Attributes
    ----------
    permanent : bool
        Another attempt at the same job would fail the same way (the worker fails the job at
        once instead of spending its remaining attempts).
    exit_code : int
        What ``seganypet-node`` exits with: 2 for usage and configuration, 1 at run time.
    label : str
        Printed before the message (``"configuration error: "``), or empty.
    """

    permanent: ClassVar[bool] = True
    exit_code: ClassVar[int] = EXIT_RUNTIME
    label: ClassVar[str] = ""


class UsageError(NodeError, ValueError):
    """A command-line option with a value the command cannot use."""

    exit_code = EXIT_USAGE
