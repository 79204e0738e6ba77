"""The normalize stage: turn what a source produced into NormalizedEvents (validated)."""
