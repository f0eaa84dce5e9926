"""Hand-rolled, HMAC-signed client for Bitget's v2 mix (USDT-M futures) REST API."""
