"""The files `remediate` reads at run time besides its code: the JSON Schemas and the example programmes.

A reader finds them at the top of the checkout, in schemas/ and examples/. An installed package has
no checkout around it, so the wheel carries the same files inside the package, as
remediation_flows/schemas/ and remediation_flows/examples/ (see setup.py). Running from a checkout,
its own folders are read, so that an edit to a schema takes effect without reinstalling.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _folder(name: str) -> Path:
    # pyproject.toml marks a checkout: site-packages may hold another distribution's stray
    # top-level schemas/ or examples/ folder, never this project's pyproject.toml.
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    # Installed from the wheel the package is a folder on disk, so the resource is a real path.
    return Path(str(resources.files("remediation_flows").joinpath(name)))


def schemas_dir() -> Path:
    """The folder of the JSON Schemas (Draft 2020-12) that programmes and intake rows are checked against."""
    return _folder("schemas")


def examples_dir() -> Path:
    """The folder of the example enterprise programmes that `remediate up` and `remediate tour` load."""
    return _folder("examples")


def example_programmes() -> list[Path]:
    """The example programme files, in name order."""
    return sorted(examples_dir().glob("*.yaml"))
