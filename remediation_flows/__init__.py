"""remediation-flows: child-labour remediation and due-diligence work on Prefect.

The namespace of the whole project: ``remediation_flows.core`` (Prefect-free), ``.flows``, ``.blocks``,
``.stack`` and ``.cli``; setup.py says which folder each is.
"""
