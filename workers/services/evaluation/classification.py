"""Classification metrics with scikit-learn's definitions, from one confusion matrix.

Classes are the sorted union of the true and predicted labels (``sklearn.utils.multiclass.unique_labels``).
A class never predicted has precision 0, one never true has recall 0, and F1 is ``2 tp / (2 tp + fp + fn)``
(0 when that is 0/0): scikit-learn's ``zero_division=0``. Macro averages are plain means over the classes,
weighted averages weigh each class by its support (its true count).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workers.services.evaluation.tables import Joined

__all__ = ["classification_report", "confusion_matrix", "pr_curves"]


def confusion_matrix(truth: list[str], predicted: list[str]) -> tuple[list[str], np.ndarray]:
    """The sorted classes and the matrix whose row is the true class and column the predicted one."""
    classes = sorted(set(truth) | set(predicted))
    index = {label: i for i, label in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, ([index[t] for t in truth], [index[p] for p in predicted]), 1)
    return classes, matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_report(joined: Joined) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages, the confusion matrix."""
    classes, matrix = confusion_matrix(joined.truth, joined.predicted)
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(classes)
    }
    weights = support / support.sum()
    return {
        "kind": "classification",
        "samples": len(joined.ids),
        "accuracy": float(tp.sum() / matrix.sum()),
        "classes": classes,
        "per_class": per_class,
        "macro_avg": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
            "support": int(support.sum()),
        },
        "weighted_avg": {
            "precision": float(weights @ precision),
            "recall": float(weights @ recall),
            "f1": float(weights @ f1),
            "support": int(support.sum()),
        },
        "confusion": {"labels": classes, "matrix": matrix.tolist()},
    }


def pr_curves(joined: Joined, classes: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class, precision and recall of its predictions taken in falling score order.

    Each prediction is the one label of its row with that row's score; a class's k best-scored
    predictions give precision = correct / k and recall = correct / the class's support. Without
    scores each class is one point (its precision and recall).
    """
    truth = np.asarray(joined.truth, dtype=object)
    predicted = np.asarray(joined.predicted, dtype=object)
    scores = joined.scores if joined.scores is not None else np.zeros(len(truth))
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label in classes:
        rows = np.flatnonzero(predicted == label)
        support = int((truth == label).sum())
        if rows.size == 0 or support == 0:
            continue
        if joined.scores is None:
            correct = np.array([(truth[rows] == label).sum()], dtype=float)
            taken = np.array([rows.size], dtype=float)
        else:
            order = rows[np.argsort(-scores[rows], kind="stable")]
            correct = np.cumsum(truth[order] == label).astype(float)
            taken = np.arange(1, order.size + 1, dtype=float)
        curves[label] = (correct / support, correct / taken)
    return curves
