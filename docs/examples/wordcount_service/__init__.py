"""A worked example of a spt-api service: counts the words of a text (see docs/services.md)."""
