"""The client's one source, written async; client/_sync/ is generated from it."""
