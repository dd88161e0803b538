import numpy as np
import pytest
from sklearn import metrics as skm

from scratchnet.train import metrics

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]


def _predictions(seed=0, n=500):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, n)
    noisy = rng.random(n) < 0.35
    y_pred = np.where(noisy, rng.integers(0, 4, n), y_true)  # class 4 is sometimes missed
    return y_true, y_pred


def test_numbers_equal_sklearn():
    y_true, y_pred = _predictions()
    report = metrics.classification_report(y_true, y_pred, CLASSES)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=range(5), zero_division=0)
    np.testing.assert_allclose([row["precision"] for row in report["per_class"]], p, rtol=1e-12)
    np.testing.assert_allclose([row["recall"] for row in report["per_class"]], r, rtol=1e-12)
    np.testing.assert_allclose([row["f1"] for row in report["per_class"]], f, rtol=1e-12)
    assert [row["support"] for row in report["per_class"]] == list(s)
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        ours = report[f"{avg}_avg"]
        np.testing.assert_allclose([ours["precision"], ours["recall"], ours["f1"]], [p, r, f], rtol=1e-12)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert report["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=range(5)).tolist()


def test_class_never_predicted_scores_zero_like_sklearn():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 1, 0])  # class 2 is never predicted
    report = metrics.classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["per_class"][2] == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    expected = skm.classification_report(y_true, y_pred, target_names=["a", "b", "c"], zero_division=0)
    assert metrics.format_report(report) == expected


@pytest.mark.parametrize("digits", [2, 4])
def test_printed_report_is_sklearns(digits):
    y_true, y_pred = _predictions(seed=1)
    report = metrics.classification_report(y_true, y_pred, CLASSES)
    expected = skm.classification_report(y_true, y_pred, target_names=CLASSES, digits=digits, zero_division=0)
    assert metrics.format_report(report, digits=digits) == expected


def test_confusion_matrix_rows_are_true_labels():
    cm = metrics.confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1]), 3)
    assert cm.tolist() == [[0, 2, 0], [0, 1, 0], [0, 0, 0]]


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="outside 0..2"):
        metrics.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="one shape"):
        metrics.accuracy(np.array([0, 1]), np.array([0]))
