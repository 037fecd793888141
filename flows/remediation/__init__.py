"""The remediation lifecycle as Prefect flows, one module per stage."""
