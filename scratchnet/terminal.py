"""What the command line shows while it works: durations, a progress bar over batches, and
colour where the terminal supports it.

A leaf module (standard library and tqdm only), so the trainer, the evaluation and the
commands share one of each. Colour follows the common conventions: only on a terminal,
never when ``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``; ``FORCE_COLOR``
turns it on anywhere.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TextIO

STYLES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "dim": "2"}
MIN_BAR_ITEMS = 2_000  # fewer images than this are scored too fast to need a bar


def colour_enabled(stream: TextIO) -> bool:
    """Whether ANSI colour should be written to ``stream``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def say(message: str) -> None:
    """Print ``message`` as a line on stdout, at once. If stdout's reader has gone (EPIPE, e.g.
    ``scratchnet train ... | head -2``), the rest of stdout goes to os.devnull and the work goes
    on: closing a pager must never stop a training run or lose its files."""
    try:
        print(message, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout's file descriptor at os.devnull: later writes (and what is still buffered) vanish
    instead of raising BrokenPipeError again, and Python does not complain at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def paint(text: str, style: str, stream: TextIO | None = None) -> str:
    """``text`` in ``style`` (a key of STYLES) when ``stream`` (default stdout) shows colour."""
    if not colour_enabled(stream if stream is not None else sys.stdout):
        return text
    return f"\033[{STYLES[style]}m{text}\033[0m"


def format_duration(seconds: float | None) -> str:
    """'42.0 s', '3 min 12 s', '1 h 05 min'; '—' when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_seconds_left(epoch_seconds: list[float], epochs_left: int) -> float | None:
    """The time the remaining ``epochs_left`` epochs should take, at the mean pace of the finished
    ``epoch_seconds`` (None before the first epoch ends)."""
    if not epoch_seconds:
        return None
    return epochs_left * sum(epoch_seconds) / len(epoch_seconds)


def plural(count: int, noun: str) -> str:
    """'1 epoch', '2 epochs', '10,000 images': the count with thousands separators."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def batches(total: int, batch_size: int, desc: str, show: bool = True) -> Iterator[int]:
    """The start index of each batch of ``total`` items, with a progress bar on stderr when
    ``show``, stderr is a terminal and there are at least MIN_BAR_ITEMS items."""
    starts = range(0, total, batch_size)
    if not (show and total >= MIN_BAR_ITEMS and sys.stderr.isatty()):
        yield from starts
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True, file=sys.stderr) as bar:
        for start in starts:
            yield start
            bar.update(min(batch_size, total - start))

