"""Hostile-input tests: what a careless or malicious client sends, and what the API must answer.

One file per theme, each test independent and fast (no fixed sleeps):

- ``test_metric_labels``: random HTTP methods and paths do not grow the Prometheus series
  (every label of ``spt_http_request_duration_seconds`` comes from a closed set).
"""
