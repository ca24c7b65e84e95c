"""Classification tables (CSV or Parquet: ``id``, ``label``, optional ``score``) read and joined on ``id``."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from spt_api.services import UsageError
from workers.services.evaluation.checks import PARQUET_MAGIC, REQUIRED_COLUMNS

__all__ = ["EXAMPLE_IDS", "Joined", "Table", "join_tables", "read_table"]

#: How many unmatched ids the report lists as examples.
EXAMPLE_IDS = 10


@dataclass(frozen=True)
class Table:
    """One table: ids and labels as strings, scores as floats (None without a ``score`` column)."""

    ids: list[str]
    labels: list[str]
    scores: np.ndarray | None


@dataclass(frozen=True)
class Joined:
    """The rows whose id is in both tables, in truth order, and what was left on either side."""

    ids: list[str]
    truth: list[str]
    predicted: list[str]
    scores: np.ndarray | None
    predictions_without_truth: list[str] = field(default_factory=list)
    truth_without_prediction: list[str] = field(default_factory=list)


def _arrow_table(data: bytes, parameter: str) -> pa.Table:
    try:
        if data.startswith(PARQUET_MAGIC):
            return pq.read_table(io.BytesIO(data))
        # Every column as text first: an id "007" stays "007", and labels compare as written.
        header = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        names = next(csv.reader([header]), [])  # as written: pyarrow keys its columns by the exact text
        return pa_csv.read_csv(
            io.BytesIO(data),
            convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in names}),
        )
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{parameter}: not a readable CSV or Parquet table: {exc}", parameter=parameter) from None


def read_table(data: bytes, parameter: str) -> Table:
    """Read one table; every problem is a :class:`UsageError` naming ``parameter``."""
    table = _arrow_table(data, parameter)
    columns = {name.strip().lower(): name for name in table.column_names}
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise UsageError(
            f"{parameter}: the table lacks the column(s) {', '.join(missing)} (it has {', '.join(table.column_names)})",
            parameter=parameter,
        )
    if table.num_rows == 0:
        raise UsageError(f"{parameter}: the table has no rows", parameter=parameter)
    values: dict[str, list[str]] = {}
    for name in REQUIRED_COLUMNS:
        column = table.column(columns[name])
        if column.null_count:
            raise UsageError(f"{parameter}: {column.null_count} row(s) have no {name}", parameter=parameter)
        try:
            values[name] = [str(v).strip() for v in column.cast(pa.string()).to_pylist()]
        except pa.ArrowException:  # a list or struct column: no text form to compare
            raise UsageError(
                f"{parameter}: the {name} column is of type {column.type}, not text or numbers", parameter=parameter
            ) from None
        if any(v == "" for v in values[name]):
            raise UsageError(f"{parameter}: some rows have an empty {name}", parameter=parameter)
    scores = None
    if "score" in columns:
        column = table.column(columns["score"])
        try:
            scores = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        except (pa.ArrowException, ValueError):
            raise UsageError(
                f"{parameter}: the score column holds values that are not numbers", parameter=parameter
            ) from None
        if np.isnan(scores).any():
            raise UsageError(f"{parameter}: some rows have no score (or a NaN)", parameter=parameter)
    ids = values["id"]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise UsageError(
            f"{parameter}: ids must be unique; repeated: {', '.join(duplicates[:EXAMPLE_IDS])}"
            + (" ..." if len(duplicates) > EXAMPLE_IDS else ""),
            parameter=parameter,
        )
    return Table(ids, values["label"], scores)


def join_tables(predictions: Table, truth: Table) -> Joined:
    """Join on ``id``: the rows present in both, and the ids found on one side only.

    Raises
    ------
    UsageError
        When no id is in both tables.
    """
    predicted_at = {row_id: i for i, row_id in enumerate(predictions.ids)}
    rows = [(i, predicted_at[row_id]) for i, row_id in enumerate(truth.ids) if row_id in predicted_at]
    if not rows:
        raise UsageError(
            "no id is in both tables: predictions and truth are joined on their id column", parameter="predictions"
        )
    truth_ids = set(truth.ids)
    truth_rows = [t for t, _ in rows]
    predicted_rows = [p for _, p in rows]
    return Joined(
        ids=[truth.ids[t] for t in truth_rows],
        truth=[truth.labels[t] for t in truth_rows],
        predicted=[predictions.labels[p] for p in predicted_rows],
        scores=predictions.scores[predicted_rows] if predictions.scores is not None else None,
        predictions_without_truth=[i for i in predictions.ids if i not in truth_ids],
        truth_without_prediction=[i for i in truth.ids if i not in predicted_at],
    )
