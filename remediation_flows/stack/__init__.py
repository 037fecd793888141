"""The embedded default and its tools: `remediate up`'s stack, its Prefect server and runners, the demo."""
