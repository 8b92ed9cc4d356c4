"""Find filters by name and build chains from rooms.yaml items.

A name is looked up, in order, among the built-ins, as a `package.module:ClassName`
import path (it holds a colon), and among the entry points of the group
`chatserver.filters`. A chain item in rooms.yaml is one of:

    - pii                                        # a name, default options
    - rate_limit: {messages: 5, per_seconds: 10} # name: options
    - {filter: mypkg.filters:Shout, level: 2}    # `filter` names it; other keys are options
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from chatserver.filters.base import Filter, FilterConfigError
from chatserver.filters.chain import FilterChain
from chatserver.filters.crisis import CrisisFilter
from chatserver.filters.limits import MaxLengthFilter, RateLimitFilter, RepeatFilter
from chatserver.filters.links import LinksFilter
from chatserver.filters.pii import PiiFilter
from chatserver.filters.premoderate import PremoderateFilter
from chatserver.filters.words import BlocklistFilter

ENTRY_POINT_GROUP = "chatserver.filters"

BUILTINS: Mapping[str, type[Filter]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            MaxLengthFilter,
            RateLimitFilter,
            BlocklistFilter,
            LinksFilter,
            PiiFilter,
            CrisisFilter,
            RepeatFilter,
            PremoderateFilter,
        )
    }
)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def parse_spec(spec: Any) -> tuple[str, dict[str, Any]]:
    """Split one chain item from rooms.yaml into (filter name, options)."""
    if isinstance(spec, str):
        if not spec.strip():
            raise FilterConfigError("a filter item must name a filter, got an empty text")
        return spec.strip(), {}
    if isinstance(spec, Mapping):
        if "filter" in spec:
            name = spec["filter"]
            if not isinstance(name, str) or not name.strip():
                raise FilterConfigError(f"'filter' must name a filter, got {_describe(name)}")
            return name.strip(), {str(k): v for k, v in spec.items() if k != "filter"}
        if len(spec) == 1:
            ((name, options),) = spec.items()
            if not isinstance(name, str):
                raise FilterConfigError(f"a filter name must be a text, got {name!r}")
            if options is None:
                return name, {}
            if not isinstance(options, Mapping):
                raise FilterConfigError(
                    f"the options of filter '{name}' must be a mapping like {{option: value}}, "
                    f"got {_describe(options)}"
                )
            return name, {str(k): v for k, v in options.items()}
        keys = ", ".join(repr(k) for k in spec)
        raise FilterConfigError(
            f"a filter item is `name: {{options}}` or `{{filter: NAME, option: value, ...}}`, got keys {keys}"
        )
    raise FilterConfigError(f"a filter item is a name or a mapping, got {_describe(spec)}")


def _import_path(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise FilterConfigError(f"import path '{path}' must look like package.module:ClassName")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise FilterConfigError(f"cannot import '{module_name}' for filter '{path}' ({exc})") from None
    except Exception as exc:
        raise FilterConfigError(
            f"importing '{module_name}' for filter '{path}' failed: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FilterConfigError(
                f"module '{module_name}' has no '{attr}' (from filter '{path}')"
            ) from None
    return obj


def _entry_point(name: str) -> Any:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                kind = type(exc).__name__
                raise FilterConfigError(
                    f"loading filter '{name}' from entry point '{ep.value}' failed: {kind}: {exc}"
                ) from None
    return None


def resolve(name: str) -> type[Filter]:
    """The Filter class a rooms.yaml name stands for, or FilterConfigError."""
    if not isinstance(name, str) or not name:
        raise FilterConfigError(f"a filter name must be a non-empty text, got {name!r}")
    if name in BUILTINS:
        return BUILTINS[name]
    cls = _import_path(name) if ":" in name else _entry_point(name)
    if cls is None:
        raise FilterConfigError(
            f"unknown filter '{name}' (expected one of: {', '.join(sorted(BUILTINS))}; "
            f"a 'package.module:ClassName' import path; or a name registered under the "
            f"'{ENTRY_POINT_GROUP}' entry-point group)"
        )
    if not (isinstance(cls, type) and issubclass(cls, Filter)):
        raise FilterConfigError(f"filter '{name}' is {cls!r}, which is not a subclass of chatserver Filter")
    return cls


def build_filter(name: str, options: Mapping[str, Any] | None = None) -> Filter:
    """Build one filter from its rooms.yaml name and options.

    Raises:
        FilterConfigError: naming the filter, with what was expected and what arrived.
    """
    cls = resolve(name)
    try:
        return cls(**dict(options or {}))
    except FilterConfigError as exc:
        raise FilterConfigError(f"filter '{name}': {exc}") from None
    except TypeError as exc:  # a plugin whose __init__ does not take these options
        raise FilterConfigError(f"filter '{name}': bad options ({exc})") from None
    except Exception as exc:
        raise FilterConfigError(f"filter '{name}' could not be set up: {type(exc).__name__}: {exc}") from None


def build_chain(specs: Sequence[Any] | None) -> FilterChain:
    """Build a FilterChain from rooms.yaml chain items (see the module docstring for their shapes)."""
    if specs is None:
        return FilterChain(())
    if isinstance(specs, str | Mapping) or not isinstance(specs, Sequence):
        raise FilterConfigError(f"filters must be a list of filter items, got {_describe(specs)}")
    filters = []
    for number, spec in enumerate(specs, 1):
        try:
            filters.append(build_filter(*parse_spec(spec)))
        except FilterConfigError as exc:
            raise FilterConfigError(f"filter #{number}: {exc}") from None
    return FilterChain(filters)
