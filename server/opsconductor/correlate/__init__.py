"""The correlate stage: decide, for each normalized event, what it means for the alert table."""
