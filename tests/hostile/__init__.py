"""Hostile-input tests: what a careless or malicious client sends, and what the API must answer.

One file per theme, each test independent and fast (no fixed sleeps):

- ``test_metric_labels``: random HTTP methods and paths do not grow the Prometheus series
  (every label of ``spt_http_request_duration_seconds`` comes from a closed set).
- ``test_event_loop``: the loop's lag is the histogram ``spt_event_loop_lag_seconds``; a handler
  that holds the loop longer than ``SPT_API_SLOW_CALLBACK_SECONDS`` is named in a warning.
"""
