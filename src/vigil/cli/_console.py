"""Shared console helpers: progress on stderr, so that stdout stays machine-readable.

Every command that can run for more than a few seconds shows progress: a bar on a terminal,
and otherwise (a log file, a pipe, a CI job) a plain line per stage and every few seconds, so
that a long run is never silent. An interrupt (Ctrl-C, or SIGTERM from a service manager or
``kill``) unwinds through the commands' ``finally`` blocks — temporary directories removed,
child processes stopped — see :func:`stop_on_sigterm`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Standard error. Markup is off: what is printed — paths, errors, servers' messages — is shown
#: as it is (a file named ``[x].jpg`` stays so, a server cannot style or break the output);
#: the few styled lines say ``markup=True`` and escape what they interpolate.
err_console = Console(stderr=True, soft_wrap=True, markup=False)


def print_error(text: str, label: str | None = None) -> None:
    """``text`` in red on standard error (or after a red ``label``), shown as it is: a path,
    an error or a server's message is never read as rich markup (``[x]`` stays ``[x]``)."""
    from rich.text import Text

    shown = Text.assemble((label, "red"), " ", text) if label else Text(text, style="red")
    err_console.print(shown, highlight=False)

#: Seconds between two plain progress lines of one task (when stderr is not a terminal).
LINE_EVERY = 5.0


class _LineProgress(Progress):
    """A :class:`~rich.progress.Progress` for a stderr that is not a terminal: no bar (it would
    only be drawn at the end), but a line when a task starts, every :data:`LINE_EVERY` seconds
    while it runs, and when it completes."""

    def __init__(self) -> None:
        super().__init__(console=err_console, disable=True)
        self._said: dict[TaskID, float] = {}

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0,
                 completed: int = 0, visible: bool = True, **fields: Any) -> TaskID:
        task = super().add_task(description, start, total, completed, visible, **fields)
        self._say(task, force=True)
        return task

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._say(task_id)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._say(task_id)

    def _say(self, task_id: TaskID, force: bool = False) -> None:
        task = self._tasks[task_id]
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        last = self._said.get(task_id)
        if not force and last is not None and now - last < LINE_EVERY and not done:
            return
        if last == float("inf"):  # its completion was told already
            return
        self._said[task_id] = float("inf") if done else now
        total = f"/{task.total:,.0f}" if task.total is not None else ""
        err_console.print(f"{task.description}: {task.completed:,.0f}{total}", highlight=False)


def progress(disable: bool = False) -> Progress:
    """A progress display on stderr: a bar on a terminal, plain lines otherwise."""
    if not disable and not err_console.is_terminal:
        return _LineProgress()
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=disable,
    )


@contextmanager
def staged_progress(disable: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A :func:`progress` display fed by ``tell(stage, done, total)`` calls: one task per stage,
    created when the stage is first told."""
    with progress(disable) as bar:
        tasks: dict[str, TaskID] = {}

        def tell(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, completed=done)
            bar.update(tasks[stage], completed=done, total=total)

        yield tell


@contextmanager
def interruptible(what: str) -> Iterator[None]:
    """Around a long command's work: an interrupt (Ctrl-C, or SIGTERM after
    :func:`stop_on_sigterm`) has already unwound the work's ``finally`` blocks when it reaches
    here; say so in one line and exit with status 130, as a shell does for Ctrl-C."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"{what}: stopped; its temporary files are removed and its "
                          "processes ended")
        raise typer.Exit(130) from None


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C: Python's default for SIGTERM ends the process at once,
    skipping every ``finally`` block and ``with`` exit — temporary directories would stay and
    child processes run on."""
    signal.signal(signal.SIGTERM, _terminate)

