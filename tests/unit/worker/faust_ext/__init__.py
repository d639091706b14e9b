"""Tests of streams.worker.faust_ext on faust's real code."""
