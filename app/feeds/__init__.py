"""Background feeds: master stream, poller, client refreshes, snapshots, watchdog and their scheduler."""
