"""The comparison table: what a seed report said against what ``scratchnet reproduce`` measured.

A ``Figure`` is one number (or list of numbers) a report gave, copied from SEEDS.md;
``value=None`` marks a quantity the report did not give but we measure anyway (e.g. the
test accuracy of a run whose report only gave its training time). Rows are printed as a
Markdown table and saved as ``comparison.md`` and ``comparison.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..train.runfiles import write_json, write_text_atomic

MARKDOWN, JSON = "comparison.md", "comparison.json"
KINDS = ("percent", "loss", "score", "seconds", "bytes", "epoch", "list")


@dataclass(frozen=True)
class Figure:
    """A reported quantity: ``key`` names the measurement it is compared with, ``kind`` how to print it."""

    key: str
    label: str
    value: float | tuple[float, ...] | None
    kind: str
    digits: int = 2  # decimals of a "list"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"figure {self.key}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


def format_value(value, kind: str, digits: int = 2) -> str:
    """A value as the table prints it: 94.03 %, 3254 s (54.2 min), 90.0 MB, epoch 13, 0.90 0.86 ..."""
    if value is None:
        return "not reported"
    if kind == "percent":
        return f"{100 * value:.2f} %"
    if kind == "loss":
        return f"{value:.4g}"
    if kind == "score":  # a precision, recall or F1 in [0, 1]
        return f"{value:.3f}"
    if kind == "seconds":
        return f"{value:.1f} s" if value < 120 else f"{value:.0f} s ({value / 60:.1f} min)"
    if kind == "bytes":
        return f"{value / 1e6:.1f} MB" if value >= 1e6 else f"{value / 1e3:.0f} KB"
    if kind == "epoch":
        return f"epoch {int(value)}"
    return " ".join(f"{v:.{digits}f}" for v in value)


def comparison_rows(figures: tuple[Figure, ...], measured: dict) -> list[dict]:
    """One row per figure: quantity, reported and measured values (raw and as text). A figure
    without a measurement (e.g. a model a quick run leaves out) reads "not measured"."""
    rows = []
    for figure in figures:
        value = measured.get(figure.key)
        rows.append({"quantity": figure.label, "key": figure.key, "kind": figure.kind,
                     "reported": list(figure.value) if isinstance(figure.value, tuple) else figure.value,
                     "measured": list(value) if isinstance(value, tuple) else value,
                     "reported_text": format_value(figure.value, figure.kind, figure.digits),
                     "measured_text": "not measured" if value is None else format_value(value, figure.kind,
                                                                                        figure.digits)})
    return rows


def to_markdown(title: str, reported_on: str, measured_on: str, rows: list[dict], notes: list[str]) -> str:
    """The comparison as a Markdown document: a heading, the data of each side, the table, notes."""
    lines = [f"# {title}", "", f"- reported on: {reported_on}", f"- measured on: {measured_on}", "",
             "| quantity | reported | measured |", "| --- | ---: | ---: |"]
    lines += [f"| {row['quantity']} | {row['reported_text']} | {row['measured_text']} |" for row in rows]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def write_comparison(out: Path, experiment_id: str, title: str, reported_on: str, measured_on: str,
                     rows: list[dict], notes: list[str]) -> str:
    """Write ``comparison.md`` and ``comparison.json`` into ``out``; return the Markdown text."""
    text = to_markdown(title, reported_on, measured_on, rows, notes)
    write_text_atomic(out / MARKDOWN, text)
    record = {"experiment": experiment_id, "title": title, "reported_on": reported_on, "measured_on": measured_on,
              "rows": rows, "notes": notes}
    write_json(out / JSON, record)
    return text
