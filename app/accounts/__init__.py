"""Accounts: one master, many clients, credentials encrypted at rest."""
