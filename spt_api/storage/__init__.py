"""Result storage: one ``ObjectStore`` interface, a local directory or an S3 bucket behind it."""

from spt_api.storage.base import ObjectStore, result_key, safe_name
from spt_api.storage.factory import create_object_store

__all__ = ["ObjectStore", "create_object_store", "result_key", "safe_name"]
