"""Write the app format's JSON Schema and the built-in catalogue's index from the code.

    python packaging/apps_schema.py           # writes resources/apps/manifest.schema.json
                                              # and resources/apps/catalogue/index.json
    python packaging/apps_schema.py --check   # exit 1 when either is not what it would write

The manifest's models (llmos_desktop/core/apps/manifest.py) are the one definition of
the app format; the schema file is generated from them for editors and other tools
(``"$schema"`` in an editor, or any JSON Schema validator), and documented in
docs/apps.md. The index lists every ``*.llmapp`` in the catalogue folder with its id,
version and SHA-256; the app checks each file against it. Run this after changing the
models or an app in the catalogue, and commit what it writes;
tests/unit/core/apps/test_catalogue.py fails when either file is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "resources" / "apps" / "manifest.schema.json"
CATALOGUE = ROOT / "resources" / "apps" / "catalogue"
INDEX_FILE = CATALOGUE / "index.json"

if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))


def schema_text() -> str:
    """The JSON Schema of an ``.llmapp`` file, as the file holds it."""
    from llmos_desktop.core.apps.manifest import APP_FORMAT_VERSION, AppManifest

    generated = AppManifest.model_json_schema()
    generated.pop("title", None)
    generated.pop("description", None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"LLMOS Desktop app (.llmapp), format {APP_FORMAT_VERSION}",
        "description": (
            "One JSON document per app. Generated from llmos_desktop/core/apps/manifest.py"
            " by packaging/apps_schema.py; the app's own checks go further (templates,"
            " output schemas, icons, plain-text names): see docs/apps.md."
        ),
        **generated,
    }
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def index_text(folder: Path = CATALOGUE) -> str:
    """``index.json`` for the ``*.llmapp`` files in ``folder`` (each one validated)."""
    from llmos_desktop.core.apps.package import (
        INDEX_FORMAT_VERSION,
        llmapp_sha256,
        read_llmapp,
    )

    entries = []
    for path in sorted(folder.glob("*.llmapp")):
        data = path.read_bytes()
        app = read_llmapp(data)
        entries.append(
            {"id": app.id, "version": app.version, "file": path.name, "sha256": llmapp_sha256(data)}
        )
    index = {"format_version": INDEX_FORMAT_VERSION, "apps": entries}
    return json.dumps(index, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only check that the files are up to date"
    )
    args = parser.parse_args(argv)
    from llmos_desktop.core.apps.manifest import AppError

    try:
        wanted = {SCHEMA_FILE: schema_text(), INDEX_FILE: index_text()}
    except AppError as exc:
        print(f"apps_schema: {exc}", file=sys.stderr)
        return 1
    stale = [
        path
        for path, text in wanted.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run packaging/apps_schema.py")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
