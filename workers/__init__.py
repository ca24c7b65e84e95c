"""Job execution: the task code shared by Celery workers and the embedded pool, and the services."""
