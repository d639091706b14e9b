"""Shared test helpers: the Kafka harness, fuzzed messages, timed rulesets, broker test fakes."""
