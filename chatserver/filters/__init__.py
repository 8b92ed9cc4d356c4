"""Message filters: the plugin API, the chain that runs them, and the built-ins.

Pure code: no I/O, no asyncio, nothing from Starlette. See docs/filters.md.
"""

from __future__ import annotations

from chatserver.filters.base import (
    ACTIONS,
    ON_ERROR,
    Filter,
    FilterConfigError,
    MessageContext,
    Verdict,
    option_bool,
    option_choice,
    option_int,
    option_number,
    option_str,
    option_strings,
)
from chatserver.filters.chain import ChainResult, FilterChain
from chatserver.filters.crisis import CrisisFilter
from chatserver.filters.limits import MaxLengthFilter, RateLimitFilter, RepeatFilter
from chatserver.filters.links import LinksFilter
from chatserver.filters.pii import PiiFilter
from chatserver.filters.premoderate import PremoderateFilter
from chatserver.filters.registry import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    build_chain,
    build_filter,
    parse_spec,
    resolve,
)
from chatserver.filters.words import BlocklistFilter, WordMatcher

__all__ = [
    "ACTIONS",
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "ON_ERROR",
    "BlocklistFilter",
    "ChainResult",
    "CrisisFilter",
    "Filter",
    "FilterChain",
    "FilterConfigError",
    "LinksFilter",
    "MaxLengthFilter",
    "MessageContext",
    "PiiFilter",
    "PremoderateFilter",
    "RateLimitFilter",
    "RepeatFilter",
    "Verdict",
    "WordMatcher",
    "build_chain",
    "build_filter",
    "option_bool",
    "option_choice",
    "option_int",
    "option_number",
    "option_str",
    "option_strings",
    "parse_spec",
    "resolve",
]
