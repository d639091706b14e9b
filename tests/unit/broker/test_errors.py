"""The broker tools' error and the shortening of text quoted in it."""

from __future__ import annotations

from streams.broker.errors import BrokerError, shorten


def test_shorten_squeezes_whitespace_and_cuts_long_text() -> None:
    assert shorten("  a\n\tb   c ") == "a b c"
    assert shorten("x" * 20, limit=10) == "xxxxxxx..."
    assert shorten("x" * 10, limit=10) == "x" * 10


def test_broker_error_carries_details_apart_from_its_sentence() -> None:
    error = BrokerError("it failed; try again.", details="log line")
    assert str(error) == "it failed; try again."
    assert error.details == "log line"
    assert BrokerError("plain.").details == ""
