"""Prefect flows: thin layers that ask people for input and call the core."""
