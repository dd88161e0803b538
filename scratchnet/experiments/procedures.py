"""How each seed experiment runs: its training settings, extra runs and figures, and what it measures.

Each procedure takes a ``Context`` and returns a ``Measured``: values under the keys of the
experiment's reported figures (see ``registry``), a line saying which data they come from,
and notes (extra tables, where the figures are). Settings the reports leave open are chosen
here and listed in each experiment's ``choices``.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import data, zoo
from . import figures, grid
from ..train.runfiles import CONFIG, MODEL, is_finished, read_json, write_json, write_text_atomic
from .context import Context, FinishedRun, data_description


@dataclass
class Measured:
    values: dict
    measured_on: str
    notes: list[str] = field(default_factory=list)


def _scores(run: FinishedRun, label: str) -> tuple[float, float, float]:
    """(precision, recall, f1) of one class from a run's metrics.json."""
    row = next(r for r in run.metrics["per_class"] if r["class"] == label)
    return row["precision"], row["recall"], row["f1"]


def _normalised_scores(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall per class computed from the row-normalised confusion matrix N
    (N[t, p] = C[t, p] / Σ_p C[t, p]): recall_k = N[k, k], precision_k = N[k, k] / Σ_t N[t, k]."""
    counts = confusion.astype(np.float64)
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    recall = np.diag(normalised)
    precision = np.divide(recall, normalised.sum(axis=0), out=np.zeros_like(recall), where=normalised.sum(0) > 0)
    return precision, recall


# -- 000: cnet ----------------------------------------------------------------------------------------------------
def cnet_mlp(ctx: Context) -> Measured:
    from ..train import format_report

    run = ctx.train("cnet-mlp", dataset="mnist", model="cnet-mlp", loss="mse", optimizer="sgd", lr=1.0,
                    batch_size=1, epochs=200, normalize="scale")
    write_text_atomic(ctx.out / "classification_report.txt",
                      format_report({**run.metrics, "accuracy": run.metrics["test_accuracy"]}, digits=4) + "\n")
    figures.plot_confusion(run, ctx.out / "confusion.png")
    values = {"test_accuracy": run.metrics["test_accuracy"], "final_loss": run.history[-1]["train_loss"],
              "train_seconds": run.metrics["train_seconds"], "digit0": _scores(run, "0"), "digit8": _scores(run, "8")}
    return Measured(values, data_description(run, ctx.quick),
                    ["per-class report: classification_report.txt; confusion matrix: confusion.png"])


# -- 001: the PyTorch homework ---------------------------------------------------------------------------------------
CONV1_SEEDS = (0, 1, 2, 3, 4)


def conv1_mnist(ctx: Context) -> Measured:
    """Several seeds: the ReLU after the output layer can kill a class for good (its logit stays
    negative, so its gradient is zero), and whether that happens depends on the initial
    weights. The table shows the median seed by test accuracy; a note lists every seed."""
    settings = dict(dataset="mnist", model="conv1", loss="ce", optimizer="sgd", lr=0.01, batch_size=40, epochs=10,
                    normalize="scale")
    seeds = CONV1_SEEDS[:2] if ctx.quick else CONV1_SEEDS
    runs = {seed: ctx.train("conv1" if seed == 0 else f"conv1-seed{seed}", seed=seed, **settings) for seed in seeds}
    scores = {seed: _normalised_scores(np.array(run.metrics["confusion_matrix"])) for seed, run in runs.items()}
    ranked = sorted(seeds, key=lambda seed: runs[seed].metrics["test_accuracy"])
    median = ranked[(len(ranked) - 1) // 2]
    run, (precision, recall) = runs[median], scores[median]
    figures.plot_confusion(run, ctx.out / "confusion.png")
    per_seed = [{"seed": seed, "test_accuracy": runs[seed].metrics["test_accuracy"],
                 "mean_recall": float(np.mean(scores[seed][1])),
                 "dead_classes": " ".join(str(k) for k in np.flatnonzero(scores[seed][1] == 0)) or "none"}
                for seed in seeds]
    values = {"precision": tuple(precision), "recall": tuple(recall), "test_accuracy": run.metrics["test_accuracy"],
              "best_epoch": run.metrics["best_epoch"], "mean_recall": float(np.mean(recall))}
    return Measured(values, data_description(run, ctx.quick),
                    [f"measured: seed {median}, the median of seeds {', '.join(map(str, seeds))} by test accuracy "
                     f"(every seed below; a dead class is one the ReLU on the outputs never predicts)",
                     f"per seed:\n\n{grid.format_table(per_seed)}",
                     "precision and recall computed from the row-normalised confusion matrix (confusion.png, right)"])


def conv2_fashion(ctx: Context) -> Measured:
    run = ctx.train("conv2", dataset="fashion-mnist", model="conv2", loss="ce", optimizer="adam", lr=1e-3,
                    class_weights={"Sandal": 2.0, "Sneaker": 2.0, "Ankle boot": 2.0}, batch_size=40, epochs=10,
                    normalize="scale")
    figures.plot_confusion(run, ctx.out / "confusion.png")
    values = {"test_accuracy": run.metrics["test_accuracy"], "best_epoch": run.metrics["best_epoch"]}
    return Measured(values, data_description(run, ctx.quick), ["confusion heat map: confusion.png"])


CIFAR_SETTINGS = {"dataset": "cifar-10", "batch_size": 4, "normalize": "zscore"}
CIFAR_QUICK = {"batch_size": 50, "epochs": 1}  # dense10k's 23.5 million weights make batch-4 steps slow


def _cifar_values(run: FinishedRun) -> dict:
    return {"train_seconds": run.metrics["train_seconds"], "model_bytes": run.metrics["model_bytes"],
            "test_accuracy": run.metrics["test_accuracy"]}


def cifar_dense10k(ctx: Context) -> Measured:
    run = ctx.train("dense10k", model="dense10k", optimizer="adagrad", lr=0.01, epochs=2, quick=CIFAR_QUICK,
                    **CIFAR_SETTINGS)
    return Measured(_cifar_values(run), data_description(run, ctx.quick))


def cifar_lenet5(ctx: Context) -> Measured:
    run = ctx.train("lenet5", model="lenet5", optimizer="sgd", lr=0.01, epochs=10, quick=CIFAR_QUICK,
                    **CIFAR_SETTINGS)
    notes = []
    dense_dir = ctx.out.parent / "cifar-dense10k" / "dense10k"
    if is_finished(dense_dir):
        notes.append(side_by_side(FinishedRun.read(dense_dir), run, ctx.out / "vs-cifar-dense10k"))
    else:
        notes.append(f"no finished cifar-dense10k run in {dense_dir}: run `scratchnet reproduce cifar-dense10k` "
                     "with the same --out parent to get the side-by-side comparison")
    return Measured(_cifar_values(run), data_description(run, ctx.quick), notes)


def side_by_side(dense: FinishedRun, lenet: FinishedRun, out) -> str:
    """SEEDS 001.3's comparison: error curves, training time, model size and confusion matrices."""
    out.mkdir(parents=True, exist_ok=True)
    figures.plot_runs({"dense10k": dense, "LeNet-5": lenet}, out / "error_curves.png",
                      "CIFAR-10: dense10k vs LeNet-5", error=True)
    figures.plot_confusion(dense, out / "confusion_dense10k.png")
    figures.plot_confusion(lenet, out / "confusion_lenet5.png")
    rows = [{"model": name, "epochs": len(run.history), "train_seconds": run.metrics["train_seconds"],
             "model_MB": run.metrics["model_bytes"] / 1e6, "test_accuracy": run.metrics["test_accuracy"],
             "test_error": 1 - run.metrics["test_accuracy"]} for name, run in (("dense10k", dense), ("LeNet-5", lenet))]
    table = grid.format_table(rows)
    write_text_atomic(out / "comparison.txt", table + "\n")
    return f"side by side with cifar-dense10k ({out}: error_curves.png, confusion_*.png):\n\n{table}"


# -- 002: the CNNk-n-p grid ------------------------------------------------------------------------------------------
GRID_MODELS = tuple(f"cnn{k}-{n}-{p}" for k in (3, 5) for n in (128, 256, 512) for p in (0.1, 0.25))
QUICK_GRID_MODELS = ("cnn3-128-0.1", "cnn3-128-0.25")
GRID_QUICK = {"epochs": 1}
BASELINES = ("cnn-nahuel", "ann-juan")


def fashion_cnn_grid(ctx: Context) -> Measured:
    base = ctx.settings(dataset="fashion-mnist", optimizer="adam", lr=1e-3, batch_size=500, epochs=50,
                        val_size=10_000, split_seed=0, normalize="scale", quick=GRID_QUICK)
    models = (QUICK_GRID_MODELS if ctx.quick else GRID_MODELS) + BASELINES
    trials = [grid.Trial(model, {**base, "model": model}, {"model": model}) for model in models]
    rows = grid.run_grid(trials, ctx.out / "grid", jobs=ctx.jobs, metric="val_loss",
                         progress=None if ctx.quiet else print)
    by_model = {row["model"]: row for row in rows}
    cnns = sorted((by_model[m] for m in models if m not in BASELINES), key=lambda r: -r["val_accuracy"])
    table_1 = grid.format_table(cnns, ["model", "best_epoch", "val_loss", "val_accuracy"])
    values = {}
    for row in cnns:
        values.update({f"{row['model']}/epoch": row["best_epoch"], f"{row['model']}/val_loss": row["val_loss"],
                       f"{row['model']}/val_accuracy": row["val_accuracy"]})
    chosen = cnns[0]["model"]  # as in the report: the highest validation accuracy at its optimal epoch
    table_2 = []
    for role, model in (("chosen", chosen), *((m, m) for m in BASELINES)):
        settings = {**base, "model": model, "epochs": by_model[model]["best_epoch"], "restore_best": False}
        settings.pop("root")
        run = ctx.train(f"retrain-{model}", **settings)
        values.update({f"{role}/epoch": by_model[model]["best_epoch"], f"{role}/test_loss": run.metrics["test_loss"],
                       f"{role}/test_accuracy": run.metrics["test_accuracy"]})
        table_2.append({"model": model, "epoch": by_model[model]["best_epoch"], **{
            k: run.metrics[k] for k in ("test_loss", "test_accuracy")}})
    table_2_text = grid.format_table(table_2)
    write_text_atomic(ctx.out / "tables.txt", f"Table I (validation)\n{table_1}\n\nTable II (test)\n{table_2_text}\n")
    run = FinishedRun.read(ctx.out / f"retrain-{chosen}")
    notes = [f"chosen model: {chosen}", f"Table I (validation, {len(cnns)} models):\n\n{table_1}",
             f"Table II (test, retrained for the optimal epochs):\n\n{table_2_text}",
             f"all trials: {ctx.out / 'grid' / grid.RESULTS}"]
    return Measured(values, data_description(run, ctx.quick), notes)


# -- 003: NumPy MLP against scikit-learn --------------------------------------------------------------------------
MLP6_SETTINGS = {"dataset": "mnist", "model": "mlp6", "loss": "ce", "optimizer": "sgd", "lr": 0.01, "batch_size": 64,
                 "epochs": 20, "normalize": "zscore"}
MLP6_HIDDEN = (512, 256, 128, 64, 32)


def mlp6_vs_sklearn(ctx: Context) -> Measured:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise RuntimeError("mlp6-vs-sklearn compares with scikit-learn, which is not installed: "
                           "pip install 'scratchnet[sklearn]' (or pip install scikit-learn)") from None
    from ..train import load_model

    run = ctx.train("mlp6", **MLP6_SETTINGS)
    config = read_json(run.run_dir / CONFIG)
    x_tr, y_tr, x_test, y_test = _split_like(config)
    loaded = load_model(run.run_dir / MODEL)
    ours_train = float(np.mean(loaded.predict_proba(x_tr).argmax(axis=1) == y_tr))

    prep = data.Preprocess.fit(x_tr, kind="zscore")
    flat = lambda x: prep(x).reshape(len(x), -1)  # noqa: E731 -- scikit-learn wants (N, features)
    sk = MLPClassifier(hidden_layer_sizes=MLP6_HIDDEN, activation="relu", solver="sgd", alpha=0.0,
                       learning_rate_init=config["lr"], batch_size=config["batch_size"], max_iter=config["epochs"],
                       momentum=0.0, nesterovs_momentum=False, shuffle=True, random_state=config["seed"], tol=0.0,
                       n_iter_no_change=config["epochs"] + 1)
    start = time.perf_counter()
    with warnings.catch_warnings():  # tol=0 asks for exactly max_iter epochs, which sklearn calls not converged
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(flat(x_tr), y_tr)
    sk_seconds = time.perf_counter() - start
    values = {"sklearn_train_accuracy": sk.score(flat(x_tr), y_tr), "sklearn_test_accuracy": sk.score(flat(x_test), y_test),
              "sklearn_seconds": sk_seconds, "scratchnet_seconds": run.metrics["train_seconds"],
              "scratchnet_train_accuracy": ours_train, "scratchnet_test_accuracy": run.metrics["test_accuracy"]}
    return Measured(values, data_description(run, ctx.quick),
                    [f"scikit-learn MLPClassifier{MLP6_HIDDEN}, plain SGD (no momentum, no L2), same split, "
                     f"z-scoring, learning rate {config['lr']}, batch {config['batch_size']}, {config['epochs']} epochs"])


def _split_like(config: dict):
    """The training split and test images a run used (same subset, split and seed), as uint8."""
    ds = data.load(config["dataset"], root=config["root"], progress=False)
    x, y = ds.x_train, ds.y_train
    if config["train_subset"]:
        x, y = data.subset(x, y, config["train_subset"], seed=config["split_seed"])
    x_tr, y_tr, _, _ = data.train_val_split(x, y, config["val_size"], seed=config["split_seed"],
                                            stratify=config["stratify"])
    index = np.arange(len(ds.y_test))
    if config["test_subset"]:
        index, _ = data.subset(index, ds.y_test, config["test_subset"], seed=config["split_seed"])
    return x_tr, y_tr, ds.x_test[index], ds.y_test[index]


# -- 004: two-hidden-layer MLP, dropout and batch sizes ---------------------------------------------------------------
MLP2_SETTINGS = {"dataset": "mnist", "loss": "ce", "optimizer": "sgd", "lr": 0.1, "batch_size": 32, "epochs": 30,
                 "normalize": "scale", "restore_best": False}
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
QUICK_BATCH_SIZES = (8, 32, 256)


def sweep_lr(batch: int) -> float:
    """The batch sweep's learning rate: MLP2_SETTINGS' rate scaled by sqrt(batch / its batch), so
    that the gradient noise per step stays comparable (one rate for all diverges at batch 1)."""
    return MLP2_SETTINGS["lr"] * (batch / MLP2_SETTINGS["batch_size"]) ** 0.5


def one_hidden_layer_spec(hidden: int = 256) -> dict:
    """The one-hidden-layer baseline of SEEDS 004: 784-hidden-10, ReLU, the same init as mlp2."""
    return {"layers": [{"type": "Flatten"},
                       {"type": "Linear", "in_features": 784, "out_features": hidden, "init": zoo.NORMAL_FAN_IN},
                       {"type": "ReLU"},
                       {"type": "Linear", "in_features": hidden, "out_features": 10, "init": zoo.NORMAL_FAN_IN}]}


def mlp2_dropout(ctx: Context) -> Measured:
    ctx.out.mkdir(parents=True, exist_ok=True)
    baseline_file = ctx.out / "mlp1-256.json"
    write_json(baseline_file, one_hidden_layer_spec())
    main = ctx.train("mlp2", model="mlp2", **MLP2_SETTINGS)
    runs = {"mlp2 256-128": main,
            "mlp2 256-128, dropout 0.2": ctx.train("mlp2-dropout", model="mlp2-dropout", **MLP2_SETTINGS),
            "one hidden layer (256)": ctx.train("mlp1", model=str(baseline_file), **MLP2_SETTINGS)}
    figures.plot_runs(runs, ctx.out / "curves.png", "MNIST MLPs: with and without dropout, one hidden layer")
    figures.plot_first_layer(main, ctx.out / "weights.png", "mlp2: first-layer weights as 28x28 images")
    figures.plot_first_layer(runs["mlp2 256-128, dropout 0.2"], ctx.out / "weights_dropout.png",
                             "mlp2 with dropout: first-layer weights as 28x28 images")
    sweep = {}
    for batch in QUICK_BATCH_SIZES if ctx.quick else BATCH_SIZES:
        lr = sweep_lr(batch)
        sweep[f"batch {batch}, lr {lr:.3g}"] = main if batch == MLP2_SETTINGS["batch_size"] else ctx.train(
            f"batch-{batch}-lr{lr:.3g}", model="mlp2", **{**MLP2_SETTINGS, "batch_size": batch, "lr": lr})
    figures.plot_runs(sweep, ctx.out / "batch_sizes.png", "mlp2: batch-size sweep")
    settings_table = [{"setting": label, "test_accuracy": run.metrics["test_accuracy"],
                       "test_loss": run.metrics["test_loss"],
                       "seconds_per_epoch": run.metrics["train_seconds"] / len(run.history)}
                      for label, run in {**runs, **sweep}.items()]
    table = grid.format_table(settings_table)
    write_text_atomic(ctx.out / "settings.txt", table + "\n")
    values = {"test_accuracy": main.metrics["test_accuracy"], "test_loss": main.metrics["test_loss"],
              "first_epoch_accuracy": main.history[0]["val_accuracy"],
              "dropout_test_accuracy": runs["mlp2 256-128, dropout 0.2"].metrics["test_accuracy"],
              "one_layer_test_accuracy": runs["one hidden layer (256)"].metrics["test_accuracy"]}
    notes = [f"accuracy per setting and time per epoch (settings.txt):\n\n{table}",
             "curves: curves.png, batch_sizes.png; first-layer weights: weights.png, weights_dropout.png"]
    return Measured(values, data_description(main, ctx.quick), notes)
