"""Names close to a misspelt one, for "did you mean" in error messages (datasets, models,
recipes, flags). A leaf module: standard library only, so every layer may use it."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The known ``names`` most like ``word`` (case-insensitive), best first; [] if none is close.

    Candidates are those difflib finds similar (ratio >= 0.6); they are ranked by edit distance
    (fewest typed characters to change), then by difflib's ratio, then by name, so "resnet2O"
    suggests "resnet20" before "resnet32" although both share as many characters with it."""
    names = list(dict.fromkeys(names))
    by_lower = {name.lower(): name for name in names}
    typed = word.lower()
    similar = difflib.get_close_matches(typed, list(by_lower), n=len(by_lower), cutoff=0.6)
    ranked = sorted(similar, key=lambda name: (edit_distance(typed, name),
                                               -difflib.SequenceMatcher(None, typed, name).ratio(), name))
    return [by_lower[match] for match in ranked[:n]]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions from ``a`` to ``b``."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'``) for the closest names, else ``""``."""
    close = close_names(word, names)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(name) for name in close) + "?"
