"""Reproducible, realistic mixed lead traffic for the input topics, and where it goes."""
