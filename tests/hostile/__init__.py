"""Hostile-input tests: what a careless or malicious client sends, and what the API must answer.

One file per theme, each test independent and fast (no fixed sleeps):

- ``test_metric_labels``: random HTTP methods and paths do not grow the Prometheus series
  (every label of ``spt_http_request_duration_seconds`` comes from a closed set).
- ``test_event_loop``: the loop's lag is the histogram ``spt_event_loop_lag_seconds``; a handler
  that holds the loop longer than ``SPT_API_SLOW_CALLBACK_SECONDS`` is named in a warning.
- ``test_bad_input``: 400, not 500, for DESTRUCTION/AFTER times outside years 1-9999 in UTC and
  for JSON nested 100,000 deep; percent-encoded non-UTF-8 refused like raw bytes; a CR survives
  the UWS XML (``&#13;``); UWS control parameters (PHASE, RUNID, ...) refused at ``.../parameters``;
  414/431 with an error document for a URL or header block over ``SPT_API_MAX_HEADER_SIZE``, also
  past the server's hard limit (4x), where Tornado used to hang up without a word.
- ``test_echo_limits``: echo's parts x size (64 MiB) and parts x delay (600 s) are capped with a
  400 naming the parameter; the production chart serves cutout only (``SPT_API_SERVICES``).
- ``test_headers``: ``X-Content-Type-Options: nosniff`` on every answer; a result served by the API
  has a charset (text), ``attachment`` unless an image, a sandbox CSP; a Host not in
  ``SPT_API_ALLOWED_HOSTS`` (port ignored; health and metrics exempt) gets 400, never reflected;
  CORS headers only for ``SPT_API_CORS_ORIGINS``; a cross-site POST/DELETE from any other origin
  gets 403; the chart allows its ingress and Service host names.
- ``test_shutdown``: stopping the server (SIGTERM, ``Backends.stop``) answers a WAIT in flight
  with the job document (200, phase as it is), not a 500 or a dropped connection; also for real:
  ``spt-api serve`` gets SIGTERM while ``spt_http_waits_in_flight`` shows the WAIT held, and exits 0.
- ``test_concurrent_updates``: two concurrent parameter updates of one job both take effect.
- ``test_cutout_input``: cutout's positions tables and band values that used to cost minutes or 500s.
- ``test_broker_only_events``: with only ``SPT_API_BROKER_URL=redis://…``, job events ride the broker's
  Redis (a WAIT wakes on the worker's event); an ``amqp://`` broker without ``SPT_API_REDIS_URL``
  makes ``spt-api serve`` and ``spt-api worker`` exit 2 with one line.
- ``test_s3_multipart_bytes``: results stored as bytes honour ``SPT_API_S3_MULTIPART_THRESHOLD_MB``.
- ``test_results_storage_outage``: while S3 is down a result link answers 503 naming the storage (from
  a storage check at most every 2 s), not a redirect to the dead endpoint; 303 again once it is back.
- ``test_cutout_maps_problems``: a missing map catalogue or a changed map gives the sync 503 with the
  job's message, never 500; ``/health`` names the missing catalogue (``service:cutout``, degraded, 200).
- ``test_child_delete``: DELETE of a fan-out child on its own is a 403 naming its parent, which still
  ends COMPLETED with every part.
- ``test_embedded_restart``: an embedded server SIGKILLed mid-job (its main process alone, or its whole
  process group) runs the job again at its next start, not after the heartbeat timeout; an orphaned
  pool child exits without recording its job as ERROR.
- ``test_unsent_jobs``: a job stored QUEUED but never sent is sent when an API starts (both backends);
  a Celery API resends only the jobs queued just before it started.
- ``test_flood_kill``: the API killed mid-flood; retries with an ``Idempotency-Key`` get the first
  try's job, and every job ends COMPLETED once.
- ``test_idempotent_submission``: ``Idempotency-Key`` retries (also racing) get one job; the same key
  with other parameters is a 409 naming it; keys are per owner.
- ``test_scratch_cleanup``: ABORT and DELETE of a running job remove its scratch directory; orphaned
  scratch directories are swept (``spt-api cleanup`` too), young ones spared.
- ``test_large_bodies``: a 10 MB form (490,000 POS values) is parsed and validated in a thread: refused
  with 400 while ``/health`` answers and no handler holds the loop past ``SPT_API_SLOW_CALLBACK_SECONDS``.
- ``test_operations``: the README's ``spt-api worker -c 4`` parses; the embedded pool's backlog is counted
  under its jobs' queue, so the reconciler does not resend it at every pass.

Shared: ``api_process`` (``spt-api serve`` as a process group to kill, embedded or Celery),
``conftest.hostile`` (one embedded server, CORS origin ``_support.TRUSTED_ORIGIN``) and
``_support`` (raw-socket requests, for what no HTTP client library sends).
"""
