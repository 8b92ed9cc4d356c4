"""YAML nodes in problem messages: the line a node is on, and how a message quotes it.

Shared by every file read with line numbers (rooms.yaml, the crisis phrase packs), so a problem
reads the same wherever it is found.
"""

from __future__ import annotations

import yaml


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return node.start_mark.line + 1


def show(node: yaml.Node) -> str:
    """A node as a problem message quotes it: its value, or what kind of thing it is."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return repr(node.value) if node.tag == "tag:yaml.org,2002:str" else str(node.value)
