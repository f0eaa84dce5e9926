"""Persistence: database models, credential vault, migrations, instance files, in-memory state cache."""
