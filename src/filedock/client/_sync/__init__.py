"""The sync client: client.py is generated from client/_async/ (scripts/gen_sync_client.py)."""
