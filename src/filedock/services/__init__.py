"""Services: the rules and the ordering, between web/cli above and blobs/metadata below."""
