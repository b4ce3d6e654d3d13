"""Exact fast re-implementations of the core's text and feature paths, each proven equal by a parity test."""
