"""The sync client: client.py and files.py are generated from client/_async/ at build time.

setup.py's build_py (and scripts/gen_sync_client.py) writes them; they are not committed.
concurrency.py, threads where the async side has anyio, is written by hand.
"""
