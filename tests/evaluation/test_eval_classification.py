"""Classification metrics against scikit-learn on the same data, and the tables they are read from."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics
from sklearn.utils.multiclass import unique_labels

from spt_api.services import UsageError
from tests.evaluation.data import classification_rows, csv_text, parquet_bytes
from workers.services.evaluation.classification import classification_report, pr_curves
from workers.services.evaluation.tables import join_tables, read_table


def _joined(seed: int = 0, parquet: bool = False):  # type: ignore[no-untyped-def]
    predictions, truth = classification_rows(seed)
    encode = parquet_bytes if parquet else (lambda rows: csv_text(rows).encode())
    return join_tables(read_table(encode(predictions), "predictions"), read_table(encode(truth), "truth"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_report_matches_sklearn(seed: int) -> None:
    joined = _joined(seed)
    report = classification_report(joined)
    y_true, y_pred = joined.truth, joined.predicted
    labels = list(unique_labels(y_true, y_pred))
    assert report["classes"] == labels
    assert {"ghost", "rare"} <= set(labels)  # a class only predicted, a class never predicted
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        got = report["per_class"][label]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i]), abs=1e-12
        )
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        got = report[f"{average}_avg"]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f), abs=1e-12), average
        assert got["support"] == len(y_true)
    assert report["confusion"]["matrix"] == metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    # And scikit-learn's own report, to the digits it prints.
    text = metrics.classification_report(y_true, y_pred, labels=labels, zero_division=0, output_dict=True)
    assert report["macro_avg"]["f1"] == pytest.approx(text["macro avg"]["f1-score"], abs=1e-12)


def test_csv_and_parquet_give_the_same_report() -> None:
    assert classification_report(_joined(3)) == classification_report(_joined(3, parquet=True))


def test_ids_on_one_side_only_are_counted_and_left_out() -> None:
    predictions = read_table(b"id,label\na,x\nb,y\nz,x\n", "predictions")
    truth = read_table(b"label,id\nx,a\ny,b\ny,c\nx,d\n", "truth")
    joined = join_tables(predictions, truth)
    assert joined.ids == ["a", "b"]
    assert joined.predictions_without_truth == ["z"]
    assert joined.truth_without_prediction == ["c", "d"]
    assert classification_report(joined)["accuracy"] == 1.0


def test_ids_and_labels_are_text_as_written() -> None:
    # "007" and "7" are different ids; label 1 and label "1" the same class.
    table = read_table(b"id,label,score\n007,1,0.5\n7,2,0.25\n", "truth")
    assert table.ids == ["007", "7"] and table.labels == ["1", "2"]
    assert table.scores is not None and table.scores.tolist() == [0.5, 0.25]
    quoted = read_table(b'"ID","Label"\n"a b",cat\n', "truth")  # header case and quotes
    assert quoted.ids == ["a b"] and quoted.labels == ["cat"]
    padded = read_table(b" id , label \n007,1\n", "truth")  # blanks around the names
    assert padded.ids == ["007"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id,name\n1,x\n", "truth: the table lacks the column(s) label (it has id, name)"),
        (b"id,label\n", "truth: the table has no rows"),
        (b"id,label\n1,x\n1,y\n2,z\n", "truth: ids must be unique; repeated: 1"),
        (b"id,label\n1,\n", "truth: some rows have an empty label"),
        (b"id,label,score\n1,x,high\n", "truth: the score column holds values that are not numbers"),
        (b"id,label\n1,x,extra\n", "truth: not a readable CSV or Parquet table"),
        (b"PAR1 not really parquet", "truth: not a readable CSV or Parquet table"),
        (parquet_bytes([{"id": 1, "label": [1, 2]}]), "truth: the label column is of type list<"),
        (parquet_bytes([{"id": 1, "label": "x", "score": {"a": 1}}]), "truth: the score column holds values"),
    ],
)
def test_bad_tables_are_usage_errors(data: bytes, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        read_table(data, "truth")
    assert str(caught.value).startswith(message)
    assert caught.value.parameter == "truth"


def test_no_common_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no id is in both tables"):
        join_tables(read_table(b"id,label\na,x\n", "predictions"), read_table(b"id,label\nb,x\n", "truth"))


def test_pr_curves_follow_the_scores() -> None:
    predictions = read_table(b"id,label,score\n1,x,0.9\n2,x,0.8\n3,x,0.7\n4,y,0.6\n", "predictions")
    truth = read_table(b"id,label\n1,x\n2,y\n3,x\n4,x\n", "truth")
    curves = pr_curves(join_tables(predictions, truth), ["x", "y"])
    recall, precision = curves["x"]  # x has support 3; its predictions by score: right, wrong, right
    assert recall.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert precision.tolist() == pytest.approx([1, 1 / 2, 2 / 3])
    assert "y" in curves and curves["y"][0].tolist() == [0.0]
    unscored = pr_curves(join_tables(read_table(b"id,label\n1,x\n2,x\n", "p"), truth), ["x", "y"])
    # Joined on ids 1 and 2 only: x has support 1 there, and one of its two predictions is right.
    assert [a.tolist() for a in unscored["x"]] == [[1.0], [0.5]]
    assert np.isfinite(unscored["x"][0]).all()
