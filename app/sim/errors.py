"""Bitget error codes the simulator answers with, and the exception that carries one."""
from __future__ import annotations


class SimError(Exception):
    """A Bitget business or auth error: code, message and the HTTP status it travels with."""

    def __init__(self, code: str, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def param_error(detail: str = "") -> SimError:
    """400172 Parameter verification failed (with an optional hint)."""
    return SimError("400172", f"Parameter verification failed{': ' + detail if detail else ''}")


# Auth and environment
MISSING_KEY = ("40001", "ACCESS_KEY cannot be empty")
MISSING_SIGN = ("40003", "Signature cannot be empty")
MISSING_PASSPHRASE = ("40011", "ACCESS_PASSPHRASE cannot be empty")
BAD_TIMESTAMP = ("40005", "Invalid ACCESS_TIMESTAMP")
TIMESTAMP_EXPIRED = ("40008", "Request timestamp expired")
UNKNOWN_KEY = ("40006", "Invalid ACCESS_KEY")
BAD_CONTENT_TYPE = ("40007", "Invalid Content_Type, please use the 'application/json' format")
BAD_SIGN = ("40009", "sign signature error")
BAD_PASSPHRASE = ("40012", "apikey/password is incorrect")
NO_PERMISSION = ("40014", "Incorrect permissions, need futures trade permissions")
WRONG_ENV = ("40099", "exchange environment is incorrect")
NOT_FOUND_URL = ("40404", "Request URL NOT FOUND")
CLASSIC_ACCOUNT = ("40084", "You are in Classic Account mode, and the Unified Account API is not supported at this time")
SYSTEM_ERROR = ("40015", "System is abnormal, please try again later")

# Orders and positions
NO_POSITION = ("22002", "No position to close")
NO_ORDER_TO_CANCEL = ("22001", "No order to cancel")
ONE_WAY_STYLE = ("40774", "The order type for unilateral position must also be the unilateral position type.")
DUPLICATE_OID = ("40786", "Duplicate clientOid")
CLIENT_OID_LONG = ("40305", "clientOid is too long")
CLIENT_OID_CHARS = ("40304", "clientOid contains illegal characters")
ORDER_MISSING = ("40768", "Order does not exist")
DETAIL_MISSING = ("40109", "The data of the order cannot be found, please confirm the order number")
NOT_ENOUGH_POSITION = ("40757", "Not enough position is available.")
INSUFFICIENT = ("43012", "Insufficient balance")
MIN_QTY = ("45111", "less than the minimum order quantity")
MAX_QTY = ("45112", "more than the maximum order quantity")
NOT_MULTIPLE = ("22038", "The order quantity is not a multiple of the size step")
PRICE_TICK = ("45115", "The price you enter should be a multiple of {tick}")

# Settings
LEVERAGE_TOO_HIGH = ("45045", "Exceeds the maximum possible leverage")
LEVERAGE_MARGIN = ("40893", "Unable to update the leverage factor of this position, there is not enough margin!")
MARGIN_MODE_LOCKED = ("45117", "Currently holding positions or orders, the margin mode cannot be adjusted")
POS_MODE_LOCKED = ("40920", "Position or order exists, the position mode cannot be switched")

# TP/SL
TPSL_NO_POSITION = ("43023", "Insufficient position, can not set profit or stop loss")
TP_EXISTS = ("43030", "Take profit order already exists")
SL_EXISTS = ("43031", "Stop loss order already exists")
PLAN_MISSING = ("43020", "Plan order does not exist")
LONG_TP_LOW = ("40915", "Long position take profit price please > mark price {mark}")
SHORT_TP_HIGH = ("40915", "Short position take profit price please < mark price {mark}")
LONG_SL_HIGH = ("40917", "Stop price for long positions please < mark price {mark}")
SHORT_SL_LOW = ("45122", "Short position stop loss price please > mark price {mark}")


def fail(entry: tuple[str, str], **values: object) -> SimError:
    """Build a SimError from a (code, message template) entry."""
    code, template = entry
    return SimError(code, template.format(**values) if values else template)
