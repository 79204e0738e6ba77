"""OpsConductor: alert correlation for network operations.

The pipeline, in the order ``pipeline.py`` wires it:
sources -> normalize -> correlate -> store -> notify.
"""

__version__ = "0.1.0"
