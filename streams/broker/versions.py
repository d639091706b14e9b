"""Pinned versions of the Apache Kafka broker and its logging jars."""

from __future__ import annotations

KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.25.3"
SLF4J_VERSION = "2.0.17"
