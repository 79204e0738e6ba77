"""The ``opsconductor`` command line."""
