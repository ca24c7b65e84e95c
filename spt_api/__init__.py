"""spt-api: an IVOA UWS 1.1 job service (Tornado API, Celery or embedded workers)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
