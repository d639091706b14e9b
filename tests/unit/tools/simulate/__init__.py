"""Tests of the traffic simulator, one module per simulator module."""
