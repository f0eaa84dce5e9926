"""Runtime secrets kept in the instance folder (mode 0600), generated on first start."""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """Return the secret stored at `path`, creating it (mode 0600) when missing."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret(path, make())
    return path.read_text(encoding="utf-8").strip()


def write_secret(path: Path, value: str) -> None:
    """Atomically write a secret file readable by the owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def new_secret_key() -> str:
    """A random Flask SECRET_KEY."""
    return secrets.token_hex(32)
