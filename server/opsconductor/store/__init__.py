"""The store stage: the one alert table, its history, the event log and API keys."""
