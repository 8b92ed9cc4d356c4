"""One error tree for the whole server.

A `ChatError` carries one of PROTOCOL.md's error codes, so the hub can turn it
into an `error` frame without guessing; its message says what is wrong and
what to do about it.
"""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error a person or operator is meant to read."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        #: More fields for the `error` frame, e.g. retry_after.
        self.extra = extra

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadRequest(ChatError):
    code = "bad_request"


class Forbidden(ChatError):
    code = "forbidden"


class Unavailable(ChatError):
    """Something we depend on (Redis, the database) did not answer; nothing was published."""

    code = "unavailable"


class Deleted(ChatError):
    """A host deleted the message before it could be published; it never will be."""

    code = "bad_request"


class ConfigError(ChatError):
    """A configuration file or flag is wrong; `problems` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
