"""The qualifier worker: the faust app, its qualify agent, ingest, re-keying, outputs and timers."""
