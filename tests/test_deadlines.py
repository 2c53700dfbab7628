"""nsml.deadlines: the one thread that cuts off reads past their deadline (NSML's answers, the probes' database)."""

from __future__ import annotations

import socket
import threading
import time

from nsml.deadlines import TICK, cut_off_after, shut_down


def test_a_read_still_blocked_at_its_deadline_is_ended():
    ours, theirs = socket.socketpair()  # `theirs` never writes: the read waits for good
    with ours, theirs:
        started = time.monotonic()
        with cut_off_after(0.2, lambda: shut_down(ours.fileno())):
            assert ours.recv(10) == b""  # ended as a closed stream, not by a timeout of its own
        assert time.monotonic() - started < 0.2 + TICK + 1.0


def test_a_block_that_ended_in_time_is_never_cut():
    cuts = []
    with cut_off_after(0.05, lambda: cuts.append("cut")):
        pass
    time.sleep(0.05 + 2 * TICK)
    assert cuts == []


def test_many_deadlines_share_one_thread_and_a_failing_cut_spoils_no_other():
    before = threading.active_count()
    cuts = []

    def failing() -> None:
        raise RuntimeError("a socket closed meanwhile")

    with cut_off_after(0.05, failing), cut_off_after(0.05, lambda: cuts.append("second")):
        for _ in range(200):
            with cut_off_after(5.0, lambda: cuts.append("never")):
                pass
        time.sleep(0.05 + 2 * TICK)
    assert cuts == ["second"]
    assert threading.active_count() <= before + 1  # the watchdog, if this test started it
