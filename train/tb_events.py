"""Rewrite TensorBoard event files without the events a resumed run will write again.

An event file is a sequence of TFRecords (length, CRC of the length, serialised `Event`, CRC of
the data). Kept records are copied byte for byte, so their checksums stay valid; a record cut
short by a killed process is dropped. TensorBoard's own `purge_step` only hides such events from
its UI; rewriting the files makes what is on disk agree with the metrics log and the spectra.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from tensorboardX.proto.event_pb2 import Event

EVENT_FILES = "events.out.tfevents.*"
_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the data


def records(data: bytes) -> Iterator[tuple[bytes, Event]]:
    """(raw record, parsed event) for every complete record in an event file's bytes."""
    offset = 0
    while offset + _HEADER <= len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        end = offset + _HEADER + length + _FOOTER
        if end > len(data):
            return  # torn tail
        payload = data[offset + _HEADER : offset + _HEADER + length]
        yield data[offset:end], Event.FromString(payload)
        offset = end


def filter_event_file(path: Path, keep_step: Callable[[int], bool]) -> None:
    """Keep the records whose step passes `keep_step`, and every record that holds no summary
    (the file-version header); atomic rewrite."""
    kept = [
        raw
        for raw, event in records(path.read_bytes())
        if not event.HasField("summary") or keep_step(event.step)
    ]
    tmp = path.with_name(f".{path.name}.tmp")  # outside the event-file pattern
    tmp.write_bytes(b"".join(kept))
    os.replace(tmp, path)


def event_files(logdir: Path) -> list[Path]:
    return sorted(logdir.glob(EVENT_FILES)) if logdir.is_dir() else []
