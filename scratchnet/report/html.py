"""``report.html``: one self-contained page a person reads top to bottom.

The page is built with the standard library only (``html.escape`` and
``string.Template``); figures are embedded as base64 ``data:`` URIs and the CSS is
inline, so the file can be mailed or archived alone and opens offline.
"""
from __future__ import annotations

import base64
import json
import shlex
from html import escape
from pathlib import Path
from string import Template

from ..data import DATASETS
from ..terminal import format_duration
from ..train import flags
from ..train.config import TrainConfig
from ..train.losses import loss_label
from ..train.optimizers import optimizer_label
from ..train.schedules import schedule_label
from ..train.runfiles import RunFiles

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<main>
<header>
<h1>$title</h1>
<p class="subtitle">$subtitle</p>
</header>
<section class="headline">$headline</section>
<section><h2>Setup</h2>$setup</section>
<section><h2>Training curves</h2>$curves$lr</section>
<section><h2>What the network sees</h2>$augmented</section>
<section><h2>Per-class scores on the test set</h2>$table</section>
<section><h2>Confusion matrix</h2>$confusion</section>
<section><h2>Mistakes</h2>$mistakes</section>
<section><h2>First-layer weights</h2>$weights</section>
<section><h2>Reproduce</h2>$reproduce</section>
<footer>Written by scratchnet $version.</footer>
</main>
</body>
</html>
""")

CSS = """
:root { --ink: #1d232b; --muted: #5d6876; --rule: #e3e7ec; --accent: #2563eb; --card: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 16px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 2.5rem 1.5rem 4rem; }
h1 { font-size: 2rem; margin: 0 0 .25rem; letter-spacing: -.01em; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 1rem; padding-bottom: .35rem; border-bottom: 1px solid var(--rule); }
.subtitle { color: var(--muted); margin: 0; }
.headline { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: .8rem; margin-top: 2rem; }
.card { background: var(--card); border: 1px solid var(--rule); border-radius: 10px; padding: .9rem 1rem; }
.card .value { font-size: 1.55rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: .85rem; text-transform: uppercase; letter-spacing: .04em; }
.card.main { background: #eef4ff; border-color: #c7d8fb; }
.card.main .value { color: var(--accent); }
dl.setup { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.5rem; margin: 0; }
dl.setup dt { color: var(--muted); }
dl.setup dd { margin: 0; }
.note { color: var(--muted); }
pre, code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: var(--card); border: 1px solid var(--rule); border-radius: 8px; padding: .9rem 1rem;
      overflow-x: auto; line-height: 1.4; }
details { margin-top: 1rem; }
summary { cursor: pointer; color: var(--accent); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; min-width: 60%; }
th, td { padding: .4rem .9rem; text-align: right; border-bottom: 1px solid var(--rule); }
th:first-child, td:first-child { text-align: left; }
thead th { font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--ink); }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.summary td { font-weight: 600; background: var(--card); }
tr.summary:first-of-type td { border-top: 2px solid var(--ink); }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .5rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
"""

# Settings shown under "Setup", in this order: (config key, label).
SETUP_FIELDS = [
    ("loss", "Loss"), ("class_weights", "Class weights"), ("optimizer", "Optimiser"), ("lr", "Learning rate"),
    ("schedule", "Learning-rate schedule"), ("batch_size", "Batch size"), ("epochs", "Epochs"),
    ("early_stopping_patience", "Early stopping patience"), ("normalize", "Normalisation"),
    ("augment", "Augmentation"), ("train_subset", "Training subset (images)"),
    ("test_subset", "Test subset (images)"), ("seed", "Seed"),
]

# Training features shown under "Setup" only when the run used them: (config key, label, how to show the value).
FEATURE_FIELDS = [
    ("recipe", "Recipe", str),
    ("init_from", "Initialised from", str),
    ("new_head", "New classifier head", lambda _: "yes (last layer trained from scratch)"),
    ("label_smoothing", "Label smoothing", None),
    ("momentum", "Momentum", None),
    ("weight_decay", "Weight decay", None),
    ("skip_decay_norm_bias", "Decay groups", lambda _: "no weight decay on biases and normalisation layers"),
    ("clip_grad_norm", "Gradient clipping", lambda v: f"global L2 norm at most {v!r}"),
    ("ema_decay", "EMA of the weights", lambda v: f"decay {v!r} per step (validated, tested and saved)"),
    ("tta", "Test-time augmentation", lambda _: "each test image and its mirror image"),
    ("time_budget", "Time budget", lambda v: format_duration(v)),
]



def render_report(run: RunFiles, architecture: str, figures: dict[str, Path], version: str) -> str:
    """The whole page as a string.

    ``architecture`` is the model's layer summary (``Module.summary``); ``figures`` maps "curves",
    "confusion", "mistakes" and "weights" to the PNGs to embed.
    """
    config, metrics = run.config, run.metrics
    title = f"{config.get('model', 'model')} on {dataset_title(metrics.get('dataset') or config.get('dataset', '?'))}"
    return PAGE.substitute(
        title=escape(title),
        subtitle=f"Training run <code>{escape(str(run.run_dir))}</code>",
        css=CSS,
        headline=headline_cards(metrics),
        setup=setup_section(config, metrics, architecture),
        curves=figure(figures["curves"], curves_caption(config, metrics)),
        lr=figure(figures["lr"], "The learning rate each epoch started with (schedules that step every batch "
                                 "change it within epochs too)."),
        augmented=(figure(figures["augmented"], "Test images as stored (first row) and three draws of the "
                                                "training augmentation, as the network saw its training images.")
                   if "augmented" in figures else '<p class="note">No augmentation: the network saw the '
                                                  "training images as stored.</p>"),
        table=per_class_table(metrics),
        confusion=figure(figures["confusion"], "Rows are the true classes, columns the predictions. "
                                               "Right: each row divided by its number of test images."),
        mistakes=figure(figures["mistakes"], "Misclassified test images, the most confident mistakes first, "
                                             "with the probability the model gave its wrong answer."),
        weights=figure(figures["weights"], "The first layer's weights drawn as images, each unit on its own "
                                           "scale: blue negative, white zero, red positive (for colour inputs, "
                                           "each kernel's RGB weights stretched to the full range)."),
        reproduce=reproduce_section(config, run.run_dir),
        version=escape(version),
    )


def curves_caption(config: dict, metrics: dict) -> str:
    if not metrics.get("best_epoch"):
        return "Loss and accuracy per epoch."
    kept = (" The model keeps that epoch's weights." if config.get("restore_best", True)
            else " The model keeps the last epoch's weights.")
    return "Loss and accuracy per epoch; the dashed line marks the best epoch (lowest validation loss)." + kept


def figure(path: Path, caption: str) -> str:
    """An <img> with the PNG embedded as a base64 data: URI, and its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    alt = escape(Path(path).stem)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def headline_cards(metrics: dict) -> str:
    epochs_run = metrics.get("epochs_run")
    best = metrics.get("best_epoch")
    cards = [
        ("Test accuracy", f"{100 * metrics['test_accuracy']:.2f} %", True),
        ("Test loss", f"{metrics['test_loss']:.4f}", False),
        ("Best epoch", (f"{best} of {epochs_run}" if epochs_run else f"{best}") if best else "—", False),
        ("Training time", format_duration(metrics.get("train_seconds")), False),
        ("Parameters", f"{metrics['num_parameters']:,}" if "num_parameters" in metrics else "—", False),
        ("Model size", format_bytes(metrics.get("model_bytes")), False),
    ]
    return "".join(
        f'<div class="card{" main" if main else ""}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
        for label, value, main in cards
    )


def dataset_title(name: str) -> str:
    """A dataset's proper name ("Fashion-MNIST" for "fashion-mnist"), or ``name`` if unknown."""
    known = DATASETS.get(name)
    return known.title if known else name


def setup_section(config: dict, metrics: dict, architecture: str) -> str:
    dataset = escape(dataset_title(str(metrics.get("dataset") or config.get("dataset", "?"))))
    note = metrics.get("dataset_note")
    rows = [("Dataset", dataset + (f' <span class="note">({escape(note)})</span>' if note else ""))]
    model = escape(str(config.get("model", "?")))
    if "num_parameters" in metrics:
        model += f' <span class="note">({metrics["num_parameters"]:,} parameters)</span>'
    rows.append(("Model", model))
    loss = metrics.get("loss") or config.get("loss")  # metrics.json has "auto" resolved
    settings = {**config, "loss": loss_label(loss), "optimizer": optimizer_label(config.get("optimizer")),
                "schedule": schedule_label(config.get("schedule"))}
    rows += [(label, escape(format_value(settings[key]))) for key, label in SETUP_FIELDS
             if settings.get(key) not in (None, {})]
    rows += [(label, escape((show or format_value)(config[key]))) for key, label, show in FEATURE_FIELDS
             if config.get(key)]
    rows.append(("Validation split", escape(split_description(config))))
    listing = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    all_settings = escape(json.dumps(config, indent=2, sort_keys=True))
    return (f'<dl class="setup">{listing}</dl>'
            f"<h3>Architecture: layers, output shapes, parameters</h3><pre>{escape(architecture)}</pre>"
            f"<details><summary>All settings (config.json)</summary><pre>{all_settings}</pre></details>")


def split_description(config: dict) -> str:
    """How the training data was split, e.g. '10000 images held out for validation (seed 0)'."""
    size = config.get("val_size")
    if not size:
        return "none: all training images were used for training"
    held_out = f"{100 * size:g}% of the training images" if isinstance(size, float) else f"{size} images"
    how = [f"seed {config['split_seed']}"] if "split_seed" in config else []
    how += ["stratified by class"] if config.get("stratify") else []
    return f"{held_out} held out for validation" + (f" ({', '.join(how)})" if how else "")


def per_class_table(metrics: dict) -> str:
    """precision / recall / F1 / support per class, then accuracy and the two averages."""
    head = "<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>"
    body = "".join(_score_row(row["class"], row) for row in metrics["per_class"])
    total = metrics["macro_avg"]["support"]
    summary = (f'<tr class="summary"><td>accuracy</td><td></td><td></td>'
               f"<td>{metrics['test_accuracy']:.4f}</td><td>{total:,}</td></tr>"
               + _score_row("macro avg", metrics["macro_avg"], "summary")
               + _score_row("weighted avg", metrics["weighted_avg"], "summary"))
    return f"<table>{head}<tbody>{body}{summary}</tbody></table>"


def _score_row(label: str, scores: dict, css_class: str = "") -> str:
    attr = f' class="{css_class}"' if css_class else ""
    cells = "".join(f"<td>{scores[key]:.4f}</td>" for key in ("precision", "recall", "f1"))
    return f"<tr{attr}><td>{escape(str(label))}</td>{cells}<td>{scores['support']:,}</td></tr>"


def reproduce_section(config: dict, run_dir: Path) -> str:
    # Without --out: this run's directory is taken, and the default name (runs/<dataset>-<model>-<time>) is new.
    train = wrap_command("scratchnet train", train_arguments({k: v for k, v in config.items() if k != "out"}))
    rebuild = f"scratchnet report {shlex.quote(str(run_dir))}"
    return (f"<p>Train the same model again (same seed, same data split) into a new run directory "
            f"(add <code>--out DIR</code> to name it):</p><pre>{escape(train)}</pre>"
            f"<p>Rebuild this report from the run directory:</p><pre>{escape(rebuild)}</pre>")


# Always written out, even at their defaults: the settings a reader looks for first.
ALWAYS_SHOWN = ("dataset", "model", "loss", "optimizer", "lr", "epochs", "batch_size", "val_size", "seed", "out")


def train_arguments(config: dict) -> list[str]:
    """``scratchnet train`` flags that repeat ``config``, one string per flag with its value(s).

    The common settings always appear; every other one only when it differs from
    ``TrainConfig``'s default, so the command stays short. None means "not set".
    """
    defaults = TrainConfig().to_dict()
    keys = [key for key in ALWAYS_SHOWN if key in config] + [key for key in config if key not in ALWAYS_SHOWN]
    args = []
    for key in keys:
        value = config[key]
        if value is None or (key not in ALWAYS_SHOWN and key in defaults and value == defaults[key]):
            continue
        flag = flags.flag(key)
        if key == "class_weights":
            args += [f"{flag} {shlex.quote(f'{name}={format_value(weight)}')}" for name, weight in value.items()]
        elif isinstance(value, bool):  # --stratify, --no-restore-best: only the non-default side has a flag
            args.append(flag if value else flag.replace("--", "--no-", 1))
        elif isinstance(value, list):  # --betas B1 B2
            args.append(" ".join([flag, *(shlex.quote(format_value(v)) for v in value)]))
        else:
            args.append(f"{flag} {shlex.quote(format_value(value))}")
    return args


def wrap_command(command: str, args: list[str], width: int = 78) -> str:
    """``command`` and its ``args`` (each a flag with its values) over lines ending in
    backslashes, at most ``width`` characters wide where possible."""
    lines = [command]
    for piece in args:
        if len(lines[-1]) + 1 + len(piece) > width:
            lines[-1] += " \\"
            lines.append("    " + piece)
        else:
            lines[-1] += " " + piece
    return "\n".join(lines)


def format_value(value) -> str:
    """Floats in their shortest exact form (0.001); class weights as "Sandal: 2.0, Sneaker: 2.0"."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {format_value(v)}" for key, v in value.items())
    return str(value)


def format_bytes(size: int | None) -> str:
    """'245 KB', '90.1 MB' (decimal units, as file managers show them); '—' when unknown."""
    if size is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}" if size < 100 * scale else f"{size / scale:.0f} {unit}"
    return f"{size} B"
