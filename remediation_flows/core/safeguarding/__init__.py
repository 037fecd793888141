"""Keeping a child's identity inside the case store's protected table."""
