"""Reporters: render a `RunResult`. Nothing reads reporters."""
