"""Local Apache Kafka broker (KRaft, no Docker) started from Maven Central jars."""
