"""The task page: personal task links answered by people outside the NGO, without a Prefect account."""
