"""The ``index`` service: builds a FAISS index (version 1 of its versioned snapshots) from an .npy file.

``params.py`` is the declaration (light); the work is ``workers.services.search.build`` and the
compaction command ``spt-api index compact`` is ``cli.py``; the search service reads what it builds.
"""
