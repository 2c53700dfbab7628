"""The metrics directory (PROMETHEUS_MULTIPROC_DIR) that gunicorn's workers and the portal's commands share.

A gunicorn worker writes files named after its pid (`counter_1234.db`); when gunicorn starts, the counts of
the processes that have ended are added into one set of files (`counter_kept.db`), so the directory stays
small and no counter's sum goes down. A command that counts (`nsml_sync`, `nsml_check`) writes under a slot
instead: the first `command-N` whose lock file (`command-N.lock`) no running process holds. So the one-shot
passes cron starts every minute reuse one set of files, their counters adding up run after run, instead of
leaving a set per pid; a copy running at the same time takes the next slot (two processes never write one
file); and the files of a slot still held survive gunicorn's restart. The kernel lets go of a slot's lock when
its process ends, however it ends (kill -9 included).

Plain Python: gunicorn's master uses it (gunicorn.conf.py) without loading Django.
"""

from __future__ import annotations

import fcntl
import struct
from pathlib import Path
from typing import IO

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

SLOT_PREFIX = "command-"
# What the processes that have ended counted, added up at gunicorn's start: `counter_kept.db`, `histogram_kept.db`.
KEPT = "kept"
KEPT_KINDS = ("counter", "histogram", "summary")

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
    """gunicorn's start: the counts of every process that has ended (the previous run's workers, a command that
    has finished) are added into one set of files (`counter_kept.db`, `histogram_kept.db`) and theirs go, so the
    directory stays small and no sum goes down. Removed, they lowered a sum a running reconciler shares only
    partly (its own counts stay), and Prometheus reads a counter that goes down as one that started again at
    zero: rate() counted the reconciler's whole count as new. Live gauges of ended processes simply go. A command
    still running keeps its files, as it keeps writing to them."""
    directory.mkdir(parents=True, exist_ok=True)
    slots: dict[str, IO | None] = {}  # an ended command's slot, locked while its files go, so no command takes it
    try:
        ended = [path for path in directory.glob("*.db") if _has_ended(directory, path, slots)]
        kept: dict[str, dict[str, float]] = {}
        for path in ended:
            kind = path.stem.rpartition("_")[0]
            if kind in KEPT_KINDS:
                counts = kept.setdefault(kind, {})
                for key, value in _counts_in(path):
                    counts[key] = counts.get(key, 0.0) + value
        for kind, counts in kept.items():
            _write_kept(directory, kind, counts)
        for path in ended:
            if path.stem.rpartition("_")[2] != KEPT:  # replaced whole by _write_kept
                path.unlink(missing_ok=True)
    finally:
        for handle in slots.values():
            if handle is not None:
                handle.close()


def _has_ended(directory: Path, path: Path, slots: dict[str, IO | None]) -> bool:
    """Whether the process that wrote this file has ended: a command's slot that none holds, and any other
    writer (gunicorn's workers have all ended when it starts; the kept counts are no process's)."""
    writer = path.stem.rpartition("_")[2]
    if not writer.startswith(SLOT_PREFIX):
        return True
    if writer not in slots:
        slots[writer] = _lock_if_free(directory, writer)
    return slots[writer] is not None


def _counts_in(path: Path) -> list[tuple[str, float]]:
    """A counter or histogram file's samples; none from a file a process left empty or cut short."""
    try:
        return [(key, value) for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path))]
    except (OSError, RuntimeError, struct.error, UnicodeDecodeError):
        return []


def _write_kept(directory: Path, kind: str, counts: dict[str, float]) -> None:
    if not counts:  # the ended processes' files held nothing readable
        (directory / f"{kind}_{KEPT}.db").unlink(missing_ok=True)
        return
    # Written beside, then renamed into place: a start stopped half-way leaves the previous kept counts whole.
    partial = directory / f"{kind}_{KEPT}.db.partial"
    partial.unlink(missing_ok=True)
    written = MmapedDict(str(partial))
    try:
        for key, value in counts.items():
            written.write_value(key, value, 0.0)
    finally:
        written.close()
    partial.replace(directory / f"{kind}_{KEPT}.db")


def _lock_if_free(directory: Path, identifier: str) -> IO | None:
    handle = open(directory / f"{identifier}.lock", "a")  # noqa: SIM115 (kept open while locked)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
