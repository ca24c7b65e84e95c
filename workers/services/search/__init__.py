"""The ``search`` service: k-nearest-neighbour search of FAISS indexes, one fan-out piece per shard.

Light modules (imported by the API): ``params`` (the declaration), ``settings``, ``layout`` (where an
index lives in storage: versioned snapshots, manifests, the event log), ``shapes``, ``refs``,
``resources`` (``/api/indexes*``). Heavy ones (numpy, faiss; workers and the CLI only): ``faiss_index``
(building shards), ``shards`` (the shard cache of a worker), ``eventlog`` (reading the log),
``run`` (a search, its split and merge), ``compact`` (``spt-api index compact``), ``build`` (the
``index`` service's run). The ``index`` service (``workers/services/index/``) builds indexes with them.
"""
