"""Log setup for `chatserver serve`: text or JSON lines on stderr, never a client address or message text."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson


class _NoClientAddresses(logging.Filter):
    """uvicorn logs each WebSocket handshake with the client's address: we store no clear IPs."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not (
            msg.startswith('%s - "WebSocket') or "connection open" in msg or "connection closed" in msg
        )


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    """One stderr handler for everything, uvicorn's loggers included, so the address filter sees all."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_NoClientAddresses())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # These log query parameters or frame payloads at DEBUG: message text must never reach a log.
    for name in ("aiosqlite", "websockets", "redis", "asyncio", "uvicorn.error"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


class _ClientFaultsAreQuiet(logging.LoggerAdapter[logging.Logger]):
    """uvicorn logs a client's invalid UTF-8 with a traceback; it is the client's fault: one line will do."""

    @property
    def level(self) -> int:  # uvicorn reads it to decide on trace logging
        return self.logger.level

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:  # logging's keywords, passed on
        if isinstance(msg, str) and msg.startswith("Invalid UTF-8"):
            self.info("closed a connection that sent invalid UTF-8 (1007)")
            return
        self.logger.exception(msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        # Its line for every handshake ('%s - "WebSocket /ws" [accepted]') names the client's address:
        # _NoClientAddresses would drop it, but only after a record was made, for every connection.
        if isinstance(msg, str) and (msg.startswith('%s - "WebSocket') or msg in _PER_CONNECTION):
            return
        self.logger.info(msg, *args, **kwargs)


#: What the `websockets` protocol says at info level for every connection (_NoClientAddresses drops it too).
_PER_CONNECTION = frozenset({"connection open", "connection closed"})


#: The WebSocket protocol's logger, one for every connection: it keeps no state of its own.
CONNECTION_LOG = _ClientFaultsAreQuiet(logging.getLogger("uvicorn.error"), {})
