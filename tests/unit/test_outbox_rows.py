"""How a transaction's output events are cut into outbox rows."""

from __future__ import annotations

from shared.outbox import ROW_BYTES, ROW_EVENTS, outbox_rows


def test_a_transactions_events_make_one_row_in_their_order() -> None:
    events = [("t", f"k{n}" if n % 2 else None, f"p{n}") for n in range(5)]
    assert outbox_rows(events) == [
        (["t"] * 5, [None, "k1", None, "k3", None], ["p0", "p1", "p2", "p3", "p4"])
    ]
    assert outbox_rows([]) == []


def test_a_row_holds_at_most_row_events_events() -> None:
    events = [("t", "k", str(n)) for n in range(2 * ROW_EVENTS + 1)]
    rows = outbox_rows(events)
    assert [len(r[2]) for r in rows] == [ROW_EVENTS, ROW_EVENTS, 1]
    assert [p for r in rows for p in r[2]] == [str(n) for n in range(2 * ROW_EVENTS + 1)]


def test_a_row_holds_at_most_row_bytes_of_payload_or_one_larger_event() -> None:
    third = "x" * (ROW_BYTES // 3)
    events = [("t", "k", p) for p in (third, third, third, "y", "z" * (ROW_BYTES + 1), "w")]
    rows = outbox_rows(events)
    assert [[len(p) for p in r[2]] for r in rows] == [
        [len(third)] * 3 + [1],
        [ROW_BYTES + 1],
        [1],
    ]
