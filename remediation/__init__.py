"""remediation-flows: child-labour remediation and due-diligence work on Prefect.

The namespace of the whole project: ``remediation.core`` (Prefect-free), ``remediation.flows``,
``remediation.blocks``, ``remediation.stack`` and ``remediation.cli``; setup.py says which folder each is.
"""
