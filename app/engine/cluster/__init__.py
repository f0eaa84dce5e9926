"""Past one machine: the replication fan-out on Celery workers, one per shard of the clients.

ENGINE=local (the default) fans out in this process. ENGINE=celery makes this process the coordinator: it
reads the master once, publishes one task per shard (Redis is the broker and the result store) and waits
for every shard or a deadline; each worker (`flask --app wsgi worker --shard K`) owns its shard's accounts,
sends from its own source address (EGRESS_SOURCE_ADDRESS) within its own request budget, and stores its
accounts' intents and links in the shared database (PostgreSQL). Tasks are acknowledged late, so a worker
killed mid-task is redelivered; the intent clientOids make the repeat place no second order.
"""
