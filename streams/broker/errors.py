"""The one error the broker tools raise, and shortening text to fit in its sentence."""

from __future__ import annotations

__all__ = ["BrokerError", "shorten"]


class BrokerError(Exception):
    """A problem the user can fix: str() is one sentence saying what is wrong and what to do.

    ``details`` optionally carries more context (for example the tail of a log file).
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def shorten(text: str, limit: int = 300) -> str:
    """``text`` on one line, whitespace squeezed, cut to ``limit`` characters with "..."."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
