"""The tamper-evident, append-only audit log (PROTOCOL.md §6; docs/audit.md).

- `AuditLog` (store.py): the server's async writer with group commit, and history reads.
- `export`, `iter_rows`, `transcript` (export.py): reading it out, for the CLI and `/api/audit`.
- `verify`, `purge` (chain.py): checking the hash chain, and retention that keeps it verifiable.
- records.py: the pure parts (timestamps, canonical encoding, row shapes).
"""

from chatserver.audit.chain import VerifyResult, purge, verify
from chatserver.audit.export import export, iter_rows, parse_time, redact_text, transcript
from chatserver.audit.records import MESSAGE_KINDS
from chatserver.audit.store import AuditLog
from chatserver.db import utc_now

__all__ = [
    "MESSAGE_KINDS",
    "AuditLog",
    "VerifyResult",
    "export",
    "iter_rows",
    "parse_time",
    "purge",
    "redact_text",
    "transcript",
    "utc_now",
    "verify",
]
