"""Reusable test infrastructure for spt-api (test-only; nothing here is imported by the app).

- :mod:`tests.support.arrays`: ``npy_bytes`` and ``npz_bytes``, arrays as the files a client uploads.
- :mod:`tests.support.browser`: ``chromium()``, Debian's Chromium under Playwright, with this machine's flags.
- :mod:`tests.support.s3server`: ``SeaweedS3``, a private S3 server (SeaweedFS ``weed mini``).
- :mod:`tests.support.pgserver`: ``PrivatePostgres``, ``fresh_database_on_machine_pg``, ``drop_database``.
- :mod:`tests.support.redisserver`: ``PrivateRedis``, ``machine_redis_url``.
- :mod:`tests.support.server`: ``RunningServer`` and ``start_server``, an spt-api server in a thread.
- :mod:`tests.support.uws_xsd`: ``validate_uws`` against the vendored UWS 1.1 schema.

Each server class has ``start()`` (poll a ready-check to a deadline), ``stop(kill=False)``
(keeps ports and data dir, so ``start()`` again simulates a restart) and ``close()``; using
it as a context manager calls ``start()`` and ``close()``. Modules are imported one by one
(``from tests.support.s3server import SeaweedS3``) so a test pays only for what it uses.
"""
