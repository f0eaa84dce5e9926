"""One error vocabulary for the service layer, rendered as JSON on /api and as messages on pages."""
from __future__ import annotations


class CopierError(Exception):
    """An error the operator should read: has an HTTP status, a code and a message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(CopierError):
    """A field is missing or invalid; nothing was changed."""

    status = 422
    code = "invalid"


class NotFoundError(CopierError):
    """No such object."""

    status = 404
    code = "not_found"


class ConflictError(CopierError):
    """The change conflicts with existing data (second master, duplicate name)."""

    status = 409
    code = "conflict"


class BusyError(CopierError):
    """Another replication is already running."""

    status = 409
    code = "already_running"


class ExchangeRefusedError(CopierError):
    """The exchange refused the request; carries Bitget's code and an operator message."""

    status = 502
    code = "exchange_error"

    def __init__(self, message: str, *, bitget_code: str | None = None) -> None:
        super().__init__(message)
        self.bitget_code = bitget_code

    def to_dict(self) -> dict:
        """The JSON error body, with Bitget's code."""
        body = super().to_dict()
        body["error"]["bitget_code"] = self.bitget_code
        return body
