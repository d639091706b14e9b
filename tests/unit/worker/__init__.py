"""Tests of the worker's modules, without a broker."""
