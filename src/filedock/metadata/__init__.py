"""Metadata: rows by aggregate (files, keys, projects, uploads, processing) over one Database."""
