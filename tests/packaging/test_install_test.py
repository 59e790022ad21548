"""packaging/install_test.py's own checks, on real processes, files and this dpkg.

The whole install test (apt-get install, the menu entry's self-test, purge) needs root
and a built .deb: .ci/run runs it. Here its parts are checked, so a check that cannot
fail would show: a warning line is caught, a file left is named, a process left is found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmos_desktop.core.models import starter
from tests.packaging.conftest import load_script

install_test = load_script("install_test.py", "llmos_packaging_install_test")

APT_INSTALL = """\
Reading package lists...
Selecting previously unselected package llmos-desktop.
(Reading database ... 61234 files and directories currently installed.)
Preparing to unpack .../llmos-desktop_0.1.0_amd64.deb ...
Unpacking llmos-desktop (0.1.0) ...
Setting up llmos-desktop (0.1.0) ...
Processing triggers for hicolor-icon-theme (0.17-2) ...
"""
APT_PURGE_OPT = """\
Removing llmos-desktop (0.1.0) ...
dpkg: warning: while removing llmos-desktop, directory '/opt' not empty so not removed
"""


def test_warnings_are_caught() -> None:
    assert install_test.warnings_in(APT_INSTALL) == []
    assert install_test.warnings_in(APT_PURGE_OPT) == [APT_PURGE_OPT.splitlines()[1]]
    assert install_test.warnings_in("W: Some index files failed to download.\n") == [
        "W: Some index files failed to download."
    ]


def test_files_left_after_a_purge_are_named(tmp_path: Path) -> None:
    left_file = tmp_path / "left.txt"
    left_file.write_text("x", "utf-8")
    gone = tmp_path / "gone.txt"
    folder = tmp_path / "folder"
    folder.mkdir()
    left = install_test.left_after_purge(["/.", str(left_file), str(gone), str(folder)])
    assert left == [str(left_file), str(folder)]  # no package owns the folder


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg")
def test_folders_other_packages_own_may_stay() -> None:
    owned = subprocess.run(["dpkg-query", "-S", "/usr/share/doc"], capture_output=True)
    if owned.returncode != 0:
        pytest.skip("no package here lists /usr/share/doc")
    assert install_test.owned_by_others("/usr/share/doc")
    assert install_test.left_after_purge(["/usr/share/doc"]) == []
    assert not install_test.owned_by_others("/nonexistent/llmos-desktop")


def test_the_menu_entrys_exec_line(tmp_path: Path) -> None:
    entry = tmp_path / "llmos-desktop.desktop"
    entry.write_text("[Desktop Entry]\nType=Application\nExec=sh %U\n", "utf-8")
    assert install_test.exec_argv(entry) == [shutil.which("sh")]


def test_the_exec_line_is_found_on_the_desktop_s_path_not_the_shell_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI runs the install test with its virtual environment activated, whose bin/ holds
    an ``llmos-desktop`` too: the menu entry must start the package's, as a desktop does."""
    entry = tmp_path / "llmos-desktop.desktop"
    entry.write_text("[Desktop Entry]\nType=Application\nExec=llmos-desktop %U\n", "utf-8")
    venv_bin, system_bin = tmp_path / "venv" / "bin", tmp_path / "usr" / "bin"
    for folder in (venv_bin, system_bin):
        folder.mkdir(parents=True)
        program = folder / "llmos-desktop"
        program.write_text("#!/bin/sh\n", "utf-8")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{system_bin}")
    assert install_test.exec_argv(entry, search_path=str(system_bin)) == [
        str(system_bin / "llmos-desktop")
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_process_left_from_the_install_folder_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "usr-lib-llmos-desktop"
    folder.mkdir()
    sleeper = folder / "llmos-desktop"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", sleeper)
    assert install_test.processes_of(folder) == []
    proc = subprocess.Popen([str(sleeper), "30"])
    try:
        deadline = time.monotonic() + 5
        while not install_test.processes_of(folder) and time.monotonic() < deadline:
            time.sleep(0.05)
        found = install_test.processes_of(folder)
        assert len(found) == 1 and found[0].startswith(f"{proc.pid} ")
        sleeper.unlink()  # as after a purge: the executable is deleted, the process lives
        assert install_test.processes_of(folder)
    finally:
        proc.kill()
        proc.wait()
    assert install_test.processes_of(folder) == []


def test_a_file_of_the_starters_size_is_not_taken_for_it(tmp_path: Path) -> None:
    with open(tmp_path / "same-size.gguf", "wb") as handle:
        handle.truncate(starter.STARTER_SIZE)
    assert install_test.starter_copies(tmp_path) == []


@pytest.mark.model
def test_a_copy_of_the_starter_is_found(chat_model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / ".local" / "share" / "LLMOS" / "data" / "models" / "renamed.gguf"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(chat_model_path, copy)
    (tmp_path / "link.gguf").symlink_to(chat_model_path)  # a link is not a copy
    assert install_test.starter_copies(tmp_path) == [str(copy)]
    os.unlink(copy)
