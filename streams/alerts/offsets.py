"""The offset a partition may commit: just below its lowest record not yet finished (pure)."""

from __future__ import annotations

from collections import deque


class Watermark:
    """The records of one partition read so far, and which of them are finished.

    Records are added in offset order as they are read and finished in any order; the
    committable offset is the lowest unfinished one (everything below it is finished), or
    the next offset to read when all are finished. After a crash, the records from there on
    are read again: those that had finished after it are delivered once more (at least
    once, with the same webhook-id).
    """

    def __init__(self) -> None:
        self._open: deque[int] = deque()  # offsets read, oldest first, lowest unfinished first
        self._done: set[int] = set()  # finished offsets above the lowest unfinished one
        self._next: int | None = None

    def add(self, offset: int) -> None:
        """A record was read (offsets only increase)."""
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} was read after {self._next - 1}")
        self._open.append(offset)
        self._next = offset + 1

    def finish(self, offset: int) -> None:
        """A record is finished: delivered or dead-lettered wherever it matched."""
        if self._open and offset == self._open[0]:
            self._open.popleft()
            while self._open and self._open[0] in self._done:
                self._done.remove(self._open.popleft())
        else:
            self._done.add(offset)

    def committable(self) -> int | None:
        """The offset to commit (the next record to read after a restart), or None before
        any record was read."""
        return self._open[0] if self._open else self._next

    @property
    def unfinished(self) -> int:
        """Records read and not yet finished."""
        return len(self._open) - len(self._done)
