"""The metrics directory (PROMETHEUS_MULTIPROC_DIR) that gunicorn's workers and the portal's commands share.

A gunicorn worker writes files named after its pid (`counter_1234.db`), and gunicorn empties the directory
when it starts. A command that counts (`nsml_sync`, `nsml_check`) writes under a slot instead: the first
`command-N` whose lock file (`command-N.lock`) no running process holds. So the one-shot passes cron starts
every minute reuse one set of files, their counters adding up run after run, instead of leaving a set per
pid; a copy running at the same time takes the next slot (two processes never write one file); and the
files of a slot still held survive gunicorn's restart. The kernel lets go of a slot's lock when its process
ends, however it ends (kill -9 included).

Plain Python: gunicorn's master uses it (gunicorn.conf.py) without loading Django.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from prometheus_client import multiprocess

SLOT_PREFIX = "command-"

# The slot this process holds, by name, with its lock file: open (and locked) until the process ends.
_held: dict[str, tuple[str, IO]] = {}


def take_command_slot(directory: Path) -> str:
    """The first free slot, locked for the rest of this process: the name its files carry (the same on a
    second call). What a previous holder killed without its exit hook left of its live gauges goes first."""
    if str(directory) in _held:
        return _held[str(directory)][0]
    directory.mkdir(parents=True, exist_ok=True)
    slot = 0
    while (handle := _lock_if_free(directory, f"{SLOT_PREFIX}{slot}")) is None:
        slot += 1
    identifier = f"{SLOT_PREFIX}{slot}"
    _held[str(directory)] = (identifier, handle)
    multiprocess.mark_process_dead(identifier, str(directory))
    return identifier


def forget_dead_commands(directory: Path) -> None:
    """The live gauges of every slot no process holds: removed, so a command killed with kill -9 (or by
    the OOM killer) stops counting as running at the next scrape."""
    for lock in directory.glob(f"{SLOT_PREFIX}*.lock"):
        handle = _lock_if_free(directory, lock.stem)
        if handle is not None:
            with handle:
                multiprocess.mark_process_dead(lock.stem, str(directory))


def clear_for_start(directory: Path) -> None:
    """gunicorn's start: every file goes (its workers' counters start at zero), except those of a command
    still running: a reconciler's loop keeps writing to its files, and removed they would leave the scrape
    for good."""
    directory.mkdir(parents=True, exist_ok=True)
    for left_over in directory.glob("*.db"):
        writer = left_over.stem.rsplit("_", 1)[-1]
        if not writer.startswith(SLOT_PREFIX):
            left_over.unlink(missing_ok=True)
            continue
        handle = _lock_if_free(directory, writer)
        if handle is not None:  # held while the files go, so no command takes the slot meanwhile
            with handle:
                left_over.unlink(missing_ok=True)


def _lock_if_free(directory: Path, identifier: str) -> IO | None:
    handle = open(directory / f"{identifier}.lock", "a")  # noqa: SIM115 (kept open while locked)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
