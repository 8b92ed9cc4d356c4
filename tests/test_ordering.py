"""Numbers taken before the audit commit, shown after it, in order (chatserver/brokers/ordering.py)."""

from __future__ import annotations

from chatserver.brokers.ordering import RoomOrder


def test_released_messages_go_out_in_number_order_whatever_order_they_are_released_in():
    order: RoomOrder[str] = RoomOrder(10)
    first, second, third = order.reserve(), order.reserve(), order.reserve()
    assert (first, second, third) == (11, 12, 13)
    assert order.release(13, "c") == []
    assert order.release(12, "b") == []
    assert order.release(11, "a") == [(11, "a"), (12, "b"), (13, "c")]
    assert order.head == 13


def test_a_cancelled_number_with_nothing_live_after_it_is_given_back():
    """A failing disk (every row refused) leaves no gap: the numbers are taken again."""
    order: RoomOrder[str] = RoomOrder(0)
    one, two = order.reserve(), order.reserve()
    assert order.cancel(one) == []
    assert order.cancel(two) == []
    assert order.reserve() == 1
    assert order.release(1, "a") == [(1, "a")]


def test_a_cancelled_number_before_a_released_one_is_stepped_over():
    order: RoomOrder[str] = RoomOrder(0)
    one, two = order.reserve(), order.reserve()
    assert order.release(two, "b") == []
    assert order.cancel(one) == [(2, "b")]
    assert order.reserve() == 3


def test_a_cancelled_number_waits_while_a_later_reservation_is_live():
    """Cancel 1 while 2 is still being written: nothing goes out; if 2 fails too, both are given back."""
    order: RoomOrder[str] = RoomOrder(0)
    one, two = order.reserve(), order.reserve()
    assert order.cancel(one) == []
    assert order.head == 0
    assert order.cancel(two) == []
    assert order.reserve() == 1


def test_raise_to_never_numbers_below_what_the_audit_log_holds():
    order: RoomOrder[str] = RoomOrder(0)
    order.raise_to(41)
    assert order.reserve() == 42
