"""Loading user-written configuration (YAML) with positions, and the typed settings."""
