"""Peer servers for the benchmark: the same chat semantics as chatserver, on other stacks."""
