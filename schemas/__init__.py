"""Typed models and JSON Schema files for leadq's public contract (v1)."""
