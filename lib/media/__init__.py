"""The archive of results and their signed links."""
