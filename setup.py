"""Maps torpor's top-level folders onto the `torpor.` import namespace.

pyproject.toml alone cannot say "folder agent/ is package torpor.agent and so
are all its subpackages", so this file lists them. Everything else about the
distribution lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDER_OF_PACKAGE = {
    "torpor.agent": "agent",
    "torpor.controlplane": "controlplane",
    "torpor.ctl": "torporctl",
    "torpor.common": "common",
    "torpor.proto": "proto/gen",
}


def _packages() -> list[str]:
    names = []
    for package, folder in FOLDER_OF_PACKAGE.items():
        names.append(package)
        names.extend(f"{package}.{sub}" for sub in find_packages(folder))
    return names


setup(
    packages=_packages(),
    package_dir=FOLDER_OF_PACKAGE,
    package_data={
        "torpor.proto": ["**/*.pyi", "py.typed"],
        # Alembic reads the migrations as files: they are data, not a package.
        "torpor.controlplane": [
            "py.typed",
            "db/migrations/*.py",
            "db/migrations/script.py.mako",
            "db/migrations/versions/*.py",
            # the local provider compiles the NVML double from this source
            "providers/local/fake_nvml.c",
            # reference on-demand prices (savings comparison), versioned
            "savings/data/*.json",
        ],
        "torpor.agent": ["py.typed"],
        "torpor.ctl": ["py.typed"],
        "torpor.common": ["py.typed"],
    },
)
