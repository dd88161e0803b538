"""Names close to a misspelt one, for "did you mean" in error messages (datasets, models,
recipes, flags). A leaf module: standard library only, so every layer may use it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The known ``names`` most like ``word`` (case-insensitive), best first; [] if none is close."""
    names = list(dict.fromkeys(names))
    by_lower = {name.lower(): name for name in names}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[match] for match in matches]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'``) for the closest names, else ``""``."""
    close = close_names(word, names)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(name) for name in close) + "?"
