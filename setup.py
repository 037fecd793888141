"""Which packages and files the wheel carries; everything else about the project is in pyproject.toml.

One importable namespace, ``remediation_flows``, while a reader still finds each concept in the top-level
folder the project keeps it in:

    remediation_flows/core/    remediation_flows.core    the Prefect-free core
    remediation_flows/cli.py   remediation_flows.cli     `remediate`, on top of the core, flows and blocks
    remediation_flows/stack/   remediation_flows.stack   the embedded default (`remediate up`), the demo
    flows/                     remediation_flows.flows   the Prefect flows; their deployments
    blocks/                    remediation_flows.blocks  the Prefect blocks
    schemas/, examples/        remediation_flows/schemas/, remediation_flows/examples/ (data files)

Not ``remediation``: Prefect runs a flow file with the file's own folder first on sys.path, and from
flows/ the name ``remediation`` is the folder flows/remediation/.

``package_dir`` maps each top-level folder into the namespace; an editable install (`pip install -e`)
follows the same map, so the checkout's own files are the ones imported. pyproject.toml cannot map a
folder outside a found package into it, hence this file.
"""

from setuptools import find_packages, setup

# Top-level folders of the checkout that install inside the namespace: package -> folder.
MAPPED_FOLDERS = {
    "remediation_flows.flows": "flows",
    "remediation_flows.blocks": "blocks",
    "remediation_flows.schemas": "schemas",
    "remediation_flows.examples": "examples",
}


def _packages() -> list[str]:
    found = find_packages(include=["remediation_flows", "remediation_flows.*"])
    for package, folder in MAPPED_FOLDERS.items():
        found += [package] + [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


setup(
    packages=_packages(),
    package_dir={"remediation_flows": "remediation_flows", **MAPPED_FOLDERS},
    package_data={
        "remediation_flows.core": [
            "mail/templates/*",
            # The gettext catalogs, read (and compiled in memory) at run time: see mail/i18n.py.
            "mail/locales/*.pot",
            "mail/locales/*/LC_MESSAGES/*.po",
            "store/migrations/*.py",
            "store/migrations/versions/*.py",
        ],
        # Every file, so that a schema or an example added later cannot be left out of the wheel.
        "remediation_flows.task_page": ["templates/*"],
        "remediation_flows.schemas": ["*"],
        "remediation_flows.examples": ["*"],
    },
)
