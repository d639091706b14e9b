"""The worker's metrics: the contract's names, parsed by prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.worker.metrics import WorkerMetrics

pytestmark = pytest.mark.asyncio


async def test_metrics_carry_the_contract_names_and_the_lag_read_when_scraped() -> None:
    metrics = WorkerMetrics()
    metrics.events.labels("leads.website").inc(3)
    metrics.dead_letters.labels("invalid_json").inc()
    metrics.stage_changes.labels("sql").inc(2)
    metrics.latency.observe(0.012)
    lags = [{("leads.website", 0): 5, ("leads.website", 1): 0}]

    async def lag() -> Mapping[tuple[str, int], int]:
        return lags[-1]

    metrics.lag_sources.append(lag)
    families = {
        f.name: f for f in text_string_to_metric_families((await metrics.render()).decode())
    }
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("leadq_events_total", (("topic", "leads.website"),))] == 3
    assert samples[("leadq_dead_letters_total", (("reason", "invalid_json"),))] == 1
    assert samples[("leadq_stage_changes_total", (("to_stage", "sql"),))] == 2
    assert samples[("leadq_event_to_stage_change_seconds_count", ())] == 1
    assert families["leadq_event_to_stage_change_seconds"].type == "histogram"
    lag_of = {
        labels: value for (name, labels), value in samples.items() if name == "leadq_consumer_lag"
    }
    assert lag_of == {
        (("partition", "0"), ("topic", "leads.website")): 5,
        (("partition", "1"), ("topic", "leads.website")): 0,
    }
    # Read again when scraped again: caught up, and a partition no longer assigned is gone.
    lags.append({("leads.website", 0): 0})
    text = (await metrics.render()).decode()
    lag_samples = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "leadq_consumer_lag"
    ]
    assert [(s.labels["partition"], s.value) for s in lag_samples] == [("0", 0)]
