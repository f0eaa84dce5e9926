"""The copying engine: replication, the exchange gateway, background tasks and the celery cluster."""
