"""The yearly due-diligence cycle as Prefect flows, one module per step."""
