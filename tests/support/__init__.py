"""Shared test helpers: the Kafka harness, scenario and traffic messages, agents, fuzz, rules."""
