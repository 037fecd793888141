"""Which packages and files the wheel carries; everything else about the project is in pyproject.toml.

One importable namespace, ``remediation``, while a reader still finds each concept in the top-level
folder the project keeps it in:

    remediation/core/   remediation.core     the Prefect-free core
    remediation/cli.py  remediation.cli      `remediate`, on top of the core, the flows and the blocks
    remediation/stack/  remediation.stack    the embedded default (`remediate up`), the demo, the runners
    flows/              remediation.flows    the Prefect flows and where their deployments are defined
    blocks/             remediation.blocks   the Prefect blocks
    schemas/            remediation/schemas/ the JSON Schemas (data files)
    examples/           remediation/examples/ the example programmes (data files)

``package_dir`` maps each top-level folder into the namespace; an editable install (`pip install -e`)
follows the same map, so the checkout's own files are the ones imported. pyproject.toml cannot map a
folder outside a found package into it, hence this file.
"""

from setuptools import find_packages, setup

# Top-level folders of the checkout that install inside the namespace: package -> folder.
MAPPED_FOLDERS = {
    "remediation.flows": "flows",
    "remediation.blocks": "blocks",
    "remediation.schemas": "schemas",
    "remediation.examples": "examples",
}


def _packages() -> list[str]:
    found = find_packages(include=["remediation", "remediation.*"])
    for package, folder in MAPPED_FOLDERS.items():
        found += [package] + [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


setup(
    packages=_packages(),
    package_dir={"remediation": "remediation", **MAPPED_FOLDERS},
    package_data={
        "remediation.core": ["mail/templates/*", "store/migrations/*.py", "store/migrations/versions/*.py"],
        # Every file, so that a schema or an example added later cannot be left out of the wheel.
        "remediation.schemas": ["*"],
        "remediation.examples": ["*"],
    },
)
