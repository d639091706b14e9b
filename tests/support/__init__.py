"""Shared test helpers: Kafka harness, scenarios, traffic, agents, fuzzing, timed rules, broker."""
