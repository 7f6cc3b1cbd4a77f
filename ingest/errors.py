"""Errors an operator fixes (a file, a setting, a credential, a busy warehouse), and how every command
line shows them: one line `error: <message>` on stderr and a non-zero exit, no Python traceback. An
unexpected error keeps its traceback: that one is a bug to report.

The classes are markers, mixed into each module's own error class, so this module imports nothing heavy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class ExpectedError(Exception):
    """The message says what is wrong and what to fix; a traceback would add nothing."""


class PermanentError(ExpectedError):
    """Retrying cannot help until someone changes something (a credential, a connection): an Airflow task
    that raises one fails for good instead of being retried."""


def warehouse_locked(exc: BaseException) -> bool:
    """DuckDB's "Could not set lock on file": another process has the warehouse open (one writer at a time)."""
    duckdb = sys.modules.get("duckdb")  # not imported: the error cannot be DuckDB's
    return duckdb is not None and isinstance(exc, duckdb.IOException) and "Could not set lock on file" in str(exc)


def expected_message(exc: BaseException) -> str | None:
    """What to show for an expected error; None for anything else."""
    if isinstance(exc, ExpectedError):
        return str(exc)
    if warehouse_locked(exc):
        detail = str(exc).split("\n", 1)[0].removeprefix("IO Error: ").split(". See also", 1)[0]
        return f"the warehouse is in use by another process; run again when it has finished ({detail})"
    return None


def run_cli(main: Callable[[], object]) -> None:
    """Run a command line's `main`, showing expected errors as one line; unexpected ones keep their traceback."""
    try:
        main()
    except Exception as exc:
        message = expected_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None  # argparse's usage errors exit 2 before main does anything
