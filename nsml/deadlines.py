"""Deadlines on blocking reads, kept by one thread per process.

A read timeout bounds each wait for bytes, not a whole exchange: an answer that arrives a few bytes at a time, or a
connection kept open to a database that stopped answering while its host still acknowledges, holds a thread for as
long as it goes on. `cut_off_after(seconds, cut)` calls `cut` once the deadline passes, unless the block ended
first; `cut` wakes the read, usually with `shut_down` on the socket it waits on.

One thread keeps every deadline of the process, not a timer thread each: a `threading.Timer` cost about 0.12 ms to
start and cancel, a quarter of what `/healthz` costs in all, and every submission calls NSML. Watching here costs a
lock and a dictionary entry (about 3 us). The thread looks every TICK seconds while a deadline is watched, so a
deadline is kept to within TICK, and waits without waking while none is. Plain Python, like the rest of nsml/: the
portal's probes use it for their database connection too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger("nsml.deadlines")

TICK = 0.25


class _Watchdog:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watched: dict[object, tuple[float, Callable[[], None]]] = {}  # token: (deadline, cut)
        self._idle = False
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, cut: Callable[[], None]) -> object:
        token = object()
        with self._changed:
            self._watched[token] = (deadline, cut)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            elif self._idle:
                self._changed.notify()
        return token

    def release(self, token: object) -> None:
        # Under the lock: once this returns, the block's `cut` is not running and will not run.
        with self._changed:
            self._watched.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._watched:
                    self._idle = True
                    self._changed.wait()
                self._idle = False
                now = time.monotonic()
                for token, (deadline, cut) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[token]
                        try:
                            cut()
                        except Exception:  # one cut that fails must not end the deadlines of the others
                            logger.exception("cutting off a read past its deadline failed")
            time.sleep(TICK)


_WATCHDOG = _Watchdog()
# A forked process (a gunicorn worker) has no copy of the thread, and its lock may have been held at the fork.
os.register_at_fork(after_in_child=_WATCHDOG.__init__)


@contextmanager
def cut_off_after(seconds: float, cut: Callable[[], None]) -> Iterator[None]:
    """Calls `cut` if the block still runs `seconds` from now (at most TICK later); never once the block ended."""
    token = _WATCHDOG.watch(time.monotonic() + seconds, cut)
    try:
        yield
    finally:
        _WATCHDOG.release(token)


def shut_down(descriptor: int) -> None:
    """Ends every read blocked on the socket `descriptor`: they find the stream closed. A duplicate is shut down,
    not the descriptor itself, which its owner still holds and closes; a socket closed meanwhile is left alone."""
    if descriptor < 0:
        return
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(descriptor)) as duplicate:
        duplicate.shutdown(socket.SHUT_RDWR)
