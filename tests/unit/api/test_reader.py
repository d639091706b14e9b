"""The reader's bookkeeping: when the api is ready, its lag, and records it cannot use."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.api.feed import Feed
from streams.api.metrics import ApiMetrics
from streams.api.reader import TopicReader
from streams.api.replica import Replica
from streams.settings import Settings
from streams.worker.topics import TopicNames

SETTINGS = Settings(kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="p.")
NAMES = TopicNames.of(SETTINGS)


def reader(max_lag: int = 10) -> TopicReader:
    return TopicReader(SETTINGS, Replica(), Feed(), ApiMetrics(), max_lag)


def test_ready_once_the_start_offsets_are_read_and_while_not_too_far_behind() -> None:
    r = reader(max_lag=10)
    assert r.readiness() == (False, "starting")
    changes, states = TopicPartition(NAMES.stage_changes, 0), TopicPartition(NAMES.changelog, 1)
    r.problem = None
    r.targets = {changes: 5, states: 3}
    r.positions = {changes: 5, states: 1}
    assert r.readiness() == (False, "catching up: 2 records to read")
    r.positions[states] = 3
    r.caught_up = True
    assert r.readiness() == (True, None)
    r.highwaters = {changes: 16, states: 3}  # 11 new records, not read yet
    assert r.readiness() == (False, "11 records behind (more than 10)")
    assert r.behind() == {NAMES.changelog: 0, NAMES.lead_stages: 0, NAMES.stage_changes: 11}
    r.positions[changes] = 15
    assert r.readiness() == (True, None)


def test_the_metrics_show_lag_readiness_and_records_it_skipped() -> None:
    r = reader()
    tp = TopicPartition(NAMES.lead_stages, 0)
    r.problem, r.caught_up, r.targets = None, True, {tp: 2}
    bad = ConsumerRecord(tp.topic, 0, 0, 0, 0, b"L1", b"{oops", None, 0, 5, ())
    tombstone = ConsumerRecord(tp.topic, 0, 1, 0, 0, b"L2", None, None, 0, 0, ())
    r.apply_batch(tp, [bad, tombstone])
    families = {f.name: f for f in text_string_to_metric_families(r.metrics.render().decode())}
    samples = {
        (s.name, s.labels.get("topic")): s.value for f in families.values() for s in f.samples
    }
    assert samples[("leadq_api_bad_records_total", tp.topic)] == 1
    assert samples[("leadq_api_records_total", tp.topic)] == 2
    assert samples[("leadq_api_replica_lag", tp.topic)] == 0
    assert samples[("leadq_api_ready", None)] == 1
    assert r.positions[tp] == 2
