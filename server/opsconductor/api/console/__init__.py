"""The NOC console: server-rendered pages, a session cookie, live updates over SSE."""
