"""The machine a benchmark run names: the CPU model from /proc/cpuinfo, the rest of it."""

from __future__ import annotations

from bench.machine import cpu_model, machine_info


def test_cpu_model_from_proc_cpuinfo() -> None:
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    assert cpu_model(text) == "AMD EPYC 7B13"


def test_an_external_broker_is_named_as_such() -> None:
    local, external = machine_info("local"), machine_info("external")
    assert local["broker"] == "local"
    assert external["kafka"].startswith("unknown (external")
    assert local["cores"] == external["cores"]
