"""Prefect-free core of remediation-flows: configuration, clocks, rules, store and mail."""
