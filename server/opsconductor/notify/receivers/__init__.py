"""Receivers: one module per service, each with a pure payload builder and a ``send``."""
