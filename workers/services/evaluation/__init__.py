"""The ``evaluation`` service: a model's predictions scored against ground truth.

``kind=classification`` compares two tables (CSV or Parquet: ``id``, ``label``, optional ``score``);
``kind=detection`` compares COCO JSON detections with a COCO ground truth. Each job writes a JSON
``report``, a ``confusion`` matrix PNG and a ``pr_curve`` PNG.
"""
