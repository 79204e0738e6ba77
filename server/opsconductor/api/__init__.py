"""The REST adapter: a thin Litestar layer onto the pipeline and the store."""
