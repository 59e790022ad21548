"""Package list for setuptools; everything else is in pyproject.toml.

pyproject.toml alone cannot both discover the llmos_desktop packages and map the
top-level resources/ folder into the wheel as ``llmos_desktop._resources`` (a mapped
package must be listed, and a listed package list disables discovery), so the list is
computed here. llmos_desktop/resources.py finds the files from a wheel, a source
checkout or a frozen bundle.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

RESOURCES = Path(__file__).resolve().parent / "resources"

setup(
    packages=[
        *find_namespace_packages(
            include=["llmos_desktop", "llmos_desktop.*"], exclude=["*.__pycache__"]
        ),
        "llmos_desktop._resources",
        *(
            "llmos_desktop._resources." + ".".join(d.relative_to(RESOURCES).parts)
            for d in sorted(RESOURCES.rglob("*"))
            if d.is_dir() and d.name != "__pycache__"
        ),
    ],
)
