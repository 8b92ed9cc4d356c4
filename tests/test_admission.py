"""Admission decisions without a server: caps, the connect rate, the cool-off after a flood."""

from __future__ import annotations

from chatserver.admission import FULL, MAX_TRACKED, TOO_FAST, TOO_MANY, Admission, address_key, early_refusal


def test_the_burst_is_half_a_minute_of_the_rate_then_refused():
    """60/min allows 30 connections at once; the 31st is refused as too fast."""
    gate = Admission(connect_rate_per_minute=60)
    assert [gate.refusal("a") for _ in range(30)] == [""] * 30
    assert gate.refusal("a") == TOO_FAST
    assert gate.refusal("b") == "", "another address has its own bucket"


def test_waiting_is_announced_without_taking_a_token():
    """wait_before_retry says how long to wait and never uses up what it measures."""
    gate = Admission(connect_rate_per_minute=60)
    assert gate.wait_before_retry("a") == 0.0, "an unknown address may connect"
    for _ in range(30):
        gate.refusal("a")
    wait = gate.wait_before_retry("a")
    assert 0.5 < wait <= 1.0, wait
    assert gate.wait_before_retry("a") <= wait


def test_a_flooded_close_shuts_the_address_out_for_the_cool_off():
    """After a flood the address waits cool_off_s; a normal close costs nothing."""
    gate = Admission(connect_rate_per_minute=600, cool_off_s=2.0)
    assert gate.refusal("a") == ""
    gate.opened("a")
    gate.closed("a")
    assert gate.wait_before_retry("a") == 0.0
    gate.opened("a")
    gate.cool_off("a")
    gate.closed("a")
    assert 1.9 < gate.wait_before_retry("a") <= 2.0
    assert gate.refusal("a") == TOO_FAST
    assert gate.early_answer("a") is not None and gate.early_answer("b") is None
    assert gate.refused["rate"] == 2, "the refusal and the early answer are both counted"


def test_caps_per_address_and_overall():
    """The per-address cap and the global cap refuse with their own words; a close frees a slot."""
    gate = Admission(max_total=3, max_per_ip=2, connect_rate_per_minute=600)
    for address in ("a", "a"):
        assert gate.refusal(address) == ""
        gate.opened(address)
    assert gate.refusal("a") == TOO_MANY
    gate.opened("b")
    assert gate.refusal("c") == FULL
    gate.closed("a")
    assert gate.refusal("a") == ""
    assert gate.per_ip == {"a": 1, "b": 1} and gate.total == 2
    assert gate.refused == {"rate": 0, "full": 1, "per_address": 1}


def test_behind_a_proxy_per_address_limits_are_off():
    """max_per_ip=0 turns off the per-address cap and the connect rate (every client is the proxy)."""
    gate = Admission(max_per_ip=0, connect_rate_per_minute=60)
    for _ in range(100):
        assert gate.refusal("proxy") == ""
        gate.opened("proxy")
    gate.cool_off("proxy")
    assert gate.wait_before_retry("proxy") == 0.0


def test_tracked_addresses_are_bounded_forgetting_the_least_recently_seen():
    """Past MAX_TRACKED addresses the oldest is forgotten, whatever the pace of new ones."""
    gate = Admission(connect_rate_per_minute=600)
    gate.refusal("first")
    gate.refusal("second")
    for i in range(MAX_TRACKED - 1):
        gate.refusal(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
    gate.refusal("first")  # seen again: now among the most recent
    gate.refusal("one-more")
    assert len(gate._buckets) == MAX_TRACKED
    assert "second" not in gate._buckets and "first" in gate._buckets


def test_ipv6_clients_are_counted_by_their_64():
    """One subscriber's /64 is one address; IPv4-mapped addresses count as IPv4."""
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::5") != address_key("2001:db8:1:2::5")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") == "192.0.2.7"
    gate = Admission(max_per_ip=2)
    gate.opened("2001:db8::1")
    gate.opened("2001:db8::2")
    assert gate.refusal("2001:db8::3") == TOO_MANY


def test_the_early_refusal_is_a_complete_http_response():
    """A status line, Retry-After rounded up, the length of the body, closing, and the security headers."""
    raw = early_refusal(1.2)
    head, body = raw.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 429 Too Many Requests"
    assert b"retry-after: 2" in lines and b"connection: close" in lines
    assert b"content-length: %d" % len(body) in lines
    assert any(line.startswith(b"content-security-policy: default-src 'self'") for line in lines)
    assert body.decode() == TOO_FAST
