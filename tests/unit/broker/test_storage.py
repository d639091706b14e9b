"""KRaft storage: cluster ids and formatting, with a fake StorageTool command."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.storage import format_storage, is_formatted, kafka_uuid
from tests.support.broker import assert_one_sentence, script


def test_kafka_uuid_is_base64url_of_16_bytes() -> None:
    for _ in range(200):
        text = kafka_uuid()
        assert len(text) == 22
        assert not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16


def test_an_interrupted_format_is_redone_from_scratch(tmp_path: Path) -> None:
    storage = tmp_path / "kraft"
    storage.mkdir()
    (storage / "leftover").touch()
    assert not is_formatted(storage)
    tool = script(tmp_path / "format", f"mkdir -p {storage}; touch {storage}/meta.properties\n")
    format_storage([str(tool)], storage)
    assert is_formatted(storage)
    assert not (storage / "leftover").exists()


def test_a_failed_format_names_its_last_output_line(tmp_path: Path) -> None:
    tool = script(tmp_path / "format", "echo 'the real reason' >&2; exit 3\n")
    with pytest.raises(BrokerError, match=r"failed \(the real reason\)") as info:
        format_storage([str(tool)], tmp_path / "kraft")
    assert_one_sentence(str(info.value))
