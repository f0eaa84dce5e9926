"""Encryption of API credentials at rest (Fernet; MultiFernet so the key can be rotated)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """The vault key cannot decrypt stored data (wrong or missing key)."""


class Vault:
    """Encrypts and decrypts short secrets with the first key; decrypts with any of the keys."""

    def __init__(self, keys: list[str]) -> None:
        self.set_keys(keys)

    def set_keys(self, keys: list[str]) -> None:
        """Use these keys from now on (the first one encrypts)."""
        if not keys:
            raise VaultError("No vault key configured.")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise VaultError("The vault key is malformed (expected a Fernet key: 44 url-safe base64 characters).") from exc
        self.keys = list(keys)

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a string; the token is ASCII."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made by encrypt (with any configured key)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise VaultError(
                "The vault key cannot decrypt the stored API credentials. Restore the original key "
                "(instance/vault.key or VAULT_KEY) or delete the accounts and add them again."
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the primary (first) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise VaultError("A stored credential cannot be decrypted with any configured key.") from exc


def parse_keys(value: str) -> list[str]:
    """Split a VAULT_KEY setting ('new,old' or one per line) into keys, primary first."""
    return [k.strip() for k in value.replace("\n", ",").split(",") if k.strip()]


def new_key() -> str:
    """A fresh Fernet key."""
    return Fernet.generate_key().decode("ascii")


def mask(api_key: str) -> str:
    """Show only the first 4 and last 4 characters of an API key."""
    if len(api_key) <= 8:
        return "*" * len(api_key)
    return f"{api_key[:4]}…{api_key[-4:]}"
