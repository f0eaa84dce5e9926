"""The web process: blueprints (pages and API), security, dashboard state and the waitress server."""
