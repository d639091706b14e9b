"""`python -m bench`: throughput, latency, recovery and memory of leadq against a plain loop."""
