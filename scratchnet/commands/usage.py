"""``UsageError``: a bad argument, reported as one line with exit status 2 before any work is done.

Its own module so that every command and ``cli`` (which loads every command) import it
from here, and no command imports ``cli``.
"""
from __future__ import annotations


class UsageError(Exception):
    """A bad argument: printed as one line, exit status 2, before any work is done."""
