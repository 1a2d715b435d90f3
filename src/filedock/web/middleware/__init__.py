"""The request middleware (request.py: one pass per request) and what it records and answers."""
