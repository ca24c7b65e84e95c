"""A test-only service with an ``InputFile`` parameter: copies its input back as a result."""
