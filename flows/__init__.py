"""Prefect flows: thin layers that ask people for input and call the core."""

from remediation_flows.flows import run_log

# Every flow module imports this package first, so each flow run's process has the filter.
run_log.install()
