"""Classification metrics with scikit-learn's definitions (``zero_division=0``).

For K classes and the confusion matrix ``C`` (rows = true class, columns = predicted):

    precision_k = C[k, k] / Σ_i C[i, k]     (0 when class k is never predicted)
    recall_k    = C[k, k] / Σ_j C[k, j]     (0 when class k never occurs)
    f1_k        = 2 p r / (p + r)           (0 when p + r = 0)
    support_k   = Σ_j C[k, j]

The macro average is the plain mean over the K classes; the weighted average weighs each
class by its support. ``format_report`` prints them as ``sklearn.metrics.classification_report``.
"""
from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The fraction of predictions equal to the true label."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"accuracy needs two non-empty label arrays of one shape, "
                         f"got {y_true.shape} and {y_pred.shape}")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: ``C[t, p]`` is the number of samples of true class t predicted as p."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside 0..{num_classes - 1}: min {y.min()}, max {y.max()}")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def per_class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 (float64) and support (int64) per class from a confusion matrix."""
    true_positive = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    precision = _safe_divide(true_positive, cm.sum(axis=0).astype(np.float64))
    recall = _safe_divide(true_positive, support.astype(np.float64))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Everything ``metrics.json`` stores about predictions, as plain JSON-able values::

        {"accuracy": float, "per_class": [{"class", "precision", "recall", "f1", "support"}, ...],
         "macro_avg": {...}, "weighted_avg": {...}, "confusion_matrix": [[int]] (rows = true)}
    """
    cm = confusion_matrix(y_true, y_pred, len(classes))
    precision, recall, f1, support = per_class_scores(cm)
    total = int(support.sum())
    weights = support / total
    per_class = [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support)
    ]
    return {
        "accuracy": accuracy(y_true, y_pred),
        "per_class": per_class,
        "macro_avg": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                      "f1": float(f1.mean()), "support": total},
        "weighted_avg": {"precision": float(precision @ weights), "recall": float(recall @ weights),
                         "f1": float(f1 @ weights), "support": total},
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: dict, digits: int = 2) -> str:
    """The table ``sklearn.metrics.classification_report(..., target_names=classes)`` prints, from
    ``classification_report``'s dict or metrics.json's (which names the accuracy ``test_accuracy``)."""
    headers = ["precision", "recall", "f1-score", "support"]
    width = max([len(row["class"]) for row in report["per_class"]] + [len("weighted avg"), digits])
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    lines = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    for row in report["per_class"]:
        lines += row_fmt.format(row["class"], row["precision"], row["recall"], row["f1"], row["support"],
                                width=width, digits=digits)
    total = report["macro_avg"]["support"]
    lines += "\n" + ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", report.get("accuracy", report.get("test_accuracy")), total, width=width, digits=digits)
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        avg = report[key]
        lines += row_fmt.format(label, avg["precision"], avg["recall"], avg["f1"], avg["support"],
                                width=width, digits=digits)
    return lines
