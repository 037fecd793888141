"""Which files the wheel carries; everything else about the project is in pyproject.toml.

The JSON Schemas and the example programmes live in schemas/ and examples/ at the top of the
checkout, where a reader looks for them. An installed `remediate` has no checkout around it, so the
wheel carries them inside the package, as remediation_core/schemas/ and remediation_core/examples/
(remediation_core/resources.py finds them in either place). pyproject.toml cannot map a folder
outside a found package into it, hence this file.
"""

from setuptools import find_packages, setup

# Folders outside remediation_core/ that ship inside it: package name -> folder in the checkout.
SHIPPED_FOLDERS = {"remediation_core.schemas": "schemas", "remediation_core.examples": "examples"}

setup(
    packages=find_packages(include=["remediation_core*", "flows*", "blocks*", "task_page*"])
    + list(SHIPPED_FOLDERS),
    package_dir=SHIPPED_FOLDERS,
    package_data={
        "remediation_core": ["mail/templates/*", "store/migrations/*.py", "store/migrations/versions/*.py"],
        "task_page": ["templates/*"],
        # Every file, so that a schema or an example added later cannot be left out of the wheel.
        "remediation_core.schemas": ["*"],
        "remediation_core.examples": ["*"],
    },
)
