"""Install the .deb as a user does, chat once from its menu entry, purge it: all clean?

``python packaging/install_test.py dist/llmos-desktop_0.1.0_amd64.deb`` (root, or a user
with sudo; Debian or Ubuntu). What a user does, and what must hold after each step:

1. ``apt-get install ./file.deb``: no warning from apt or dpkg.
2. The installed menu entry's ``Exec=`` line, run with ``--self-test starter`` appended
   (llmos_desktop/selftest.py), offscreen, as a fresh user (an empty HOME): the window
   offers the bundled starter first, loads it in place from the installation, chats one
   reply through the engine and closes. No process of the package is left.
3. ``apt-get purge``: no warning from apt or dpkg; no file of ``dpkg -L`` (taken before)
   is left, except folders other packages own; the package is gone from dpkg.
4. The user's folders (the fake HOME, with the app's data, cache and log folders in it)
   hold no copy of the starter model: it was used in place, and what the package brought
   went with the package. What the app did leave there (settings, logs, the starter's
   checksum record) is listed: it is the user's, and the README says how to remove it.

``apt-get install`` gets ``--no-install-recommends`` (the portal and Wayland libraries
the package recommends change none of its files) and runs with the .deb in a folder apt's
sandbox user can read, as a user's Downloads folder is. Refuses to run when the package is
already installed (it would remove the user's copy). Exit status 0 when everything held.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bundle_layout import DEB_PACKAGE  # noqa: E402

DESKTOP_ENTRY = Path("/usr/share/applications/llmos-desktop.desktop")
INSTALL_DIR = Path("/usr/lib/llmos-desktop")
_WARNING = re.compile(r"^(W|E): |warning", re.IGNORECASE)


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") is None:
        raise SystemExit("install_test.py needs root or sudo (it installs a package)")
    return ["sudo", "-n"]


def _apt(*args: str, timeout: float = 900) -> tuple[int, str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    run = subprocess.run(
        [*_sudo(), "env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "apt-get", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return run.returncode, run.stdout + run.stderr


def warnings_in(output: str) -> list[str]:
    """apt's ``W:``/``E:`` lines and any line with "warning" (dpkg's own warnings)."""
    return [line for line in output.splitlines() if _WARNING.search(line)]


def installed_version(package: str = DEB_PACKAGE) -> str | None:
    run = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", package],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0 or not run.stdout.startswith("install ok installed"):
        return None
    return run.stdout.split()[-1]


def package_files(package: str = DEB_PACKAGE) -> list[str]:
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.startswith("/")]


def owned_by_others(path: str, package: str = DEB_PACKAGE) -> bool:
    """Whether some other installed package lists ``path`` (a shared folder)."""
    run = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    for line in run.stdout.splitlines():
        owners, _sep, listed = line.rpartition(": ")
        if listed == path:
            names = {o.strip().split(":")[0] for o in owners.split(",")}
            if names - {package}:
                return True
    return False


def left_after_purge(files: list[str], package: str = DEB_PACKAGE) -> list[str]:
    """Paths of the package still on disk that no other package owns."""
    left = []
    for path in files:
        if os.path.normpath(path) == "/" or not os.path.lexists(path):
            continue  # dpkg -L lists the root as "/."
        if os.path.isdir(path) and not os.path.islink(path) and owned_by_others(path, package):
            continue
        left.append(path)
    return left


def exec_argv(entry: Path = DESKTOP_ENTRY, search_path: str | None = None) -> list[str]:
    """The menu entry's Exec line as argv, without field codes, its program found on
    ``search_path`` (a desktop session's PATH: not the one of the shell that runs this,
    where an activated virtual environment would come first)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(entry, encoding="utf-8")
    argv = [a for a in shlex.split(parser["Desktop Entry"]["Exec"]) if not a.startswith("%")]
    program = shutil.which(argv[0], path=search_path) or argv[0]
    return [program, *argv[1:]]


def processes_of(folder: Path) -> list[str]:
    """Live processes whose executable is (or was) in ``folder``."""
    prefix = str(folder) + os.sep
    found = []
    for proc in psutil.process_iter(["pid", "exe", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            exe = (proc.info["exe"] or "").removesuffix(" (deleted)")
            first = (proc.info["cmdline"] or [""])[0]
            if exe.startswith(prefix) or os.path.realpath(first).startswith(prefix):
                found.append(f"{proc.info['pid']} {' '.join(proc.info['cmdline'] or [])[:200]}")
        except (psutil.Error, OSError):
            continue
    return found


def starter_copies(folder: Path) -> list[str]:
    """Files under ``folder`` that are the starter model (by size, then SHA-256)."""
    sys.path.insert(0, str(HERE.parent))
    from llmos_desktop.core.models.starter import STARTER_SHA256, STARTER_SIZE

    copies = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size == STARTER_SIZE:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest == STARTER_SHA256:
                copies.append(str(path))
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deb", type=Path)
    parser.add_argument("--timeout", type=float, default=600.0, help="for the self-test")
    args = parser.parse_args(argv)
    deb = args.deb.resolve()
    if not deb.is_file():
        raise SystemExit(f"no such file: {deb}")
    if not sys.platform.startswith("linux") or shutil.which("apt-get") is None:
        raise SystemExit("install_test.py needs Debian or Ubuntu (apt-get, dpkg)")
    if installed_version() is not None:
        raise SystemExit(
            f"{DEB_PACKAGE} {installed_version()} is already installed here; remove it first "
            "(this test purges the package it installs)"
        )

    problems: list[str] = []
    times: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="llmos-install-test-"))
    installed = False
    try:
        # Where apt's sandbox user (_apt) can read the file, as from a Downloads folder.
        work.chmod(0o755)
        local = work / deb.name
        shutil.copy2(deb, local)
        local.chmod(0o644)

        t0 = time.monotonic()
        code, output = _apt("install", "-y", "--no-install-recommends", str(local))
        times["install"] = time.monotonic() - t0
        installed = installed_version() is not None
        print(f"install: apt-get install ./{deb.name}: exit {code}, {times['install']:.1f} s")
        if code != 0 or not installed:
            print(output[-4000:], file=sys.stderr)
            raise SystemExit("the package did not install")
        problems += [f"apt-get install printed: {w}" for w in warnings_in(output)]
        files = package_files()
        version = installed_version()
        print(f"install: {DEB_PACKAGE} {version}, {len(files)} paths")
        if not (INSTALL_DIR / "llmos-desktop").is_file():
            problems.append(f"no {INSTALL_DIR}/llmos-desktop after install")
        if any(p == "/opt" or p.startswith("/opt/") for p in files):
            problems.append("the package still installs under /opt")

        home = work / "home"
        (home / "tmp").mkdir(parents=True)
        llmos_home = home / ".local" / "share" / "LLMOS"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("XDG_", "LLMOS_", "QT_", "PYTHON", "VIRTUAL_ENV"))
        }
        env.update(
            HOME=str(home),
            TMPDIR=str(home / "tmp"),
            LLMOS_HOME=str(llmos_home),  # where the self-test keeps what it writes
            QT_QPA_PLATFORM="offscreen",
            PATH="/usr/local/bin:/usr/bin:/bin",
        )
        result_file = work / "self-test.json"
        argv = exec_argv(search_path=env["PATH"])
        if not os.path.realpath(argv[0]).startswith(str(INSTALL_DIR) + os.sep):
            problems.append(f"the menu entry starts {argv[0]}, not the package's program")
        command = [*argv, "--self-test", "starter", "--json-out", str(result_file)]
        print(f"run: {shlex.join(command)}")
        t0 = time.monotonic()
        run = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=args.timeout, cwd=home
        )
        times["self-test"] = time.monotonic() - t0
        result = json.loads(result_file.read_text("utf-8")) if result_file.is_file() else {}
        summary = {k: result.get(k) for k in ("model", "load_s", "tokens_per_s", "reply")}
        print(f"run: exit {run.returncode}, {times['self-test']:.1f} s, {json.dumps(summary)}")
        if run.returncode != 0 or not result.get("ok"):
            problems.append(f"the self-test failed (exit {run.returncode}): {result.get('error')}")
            print(run.stdout[-3000:] + run.stderr[-3000:], file=sys.stderr)
        model = os.path.realpath(str(result.get("model", "")))
        if result.get("ok") and not model.startswith(str(INSTALL_DIR) + os.sep):
            problems.append(f"the starter was not used in place from {INSTALL_DIR}: {model}")
        time.sleep(0.5)
        left = processes_of(INSTALL_DIR)
        if left:
            problems.append(f"processes left after the window closed: {left}")

        t0 = time.monotonic()
        code, output = _apt("purge", "-y", DEB_PACKAGE)
        times["purge"] = time.monotonic() - t0
        installed = installed_version() is not None
        print(f"purge: apt-get purge {DEB_PACKAGE}: exit {code}, {times['purge']:.1f} s")
        if code != 0 or installed:
            print(output[-4000:], file=sys.stderr)
            problems.append("the package was not purged")
        problems += [f"apt-get purge printed: {w}" for w in warnings_in(output)]
        status = subprocess.run(["dpkg", "-s", DEB_PACKAGE], capture_output=True, text=True)
        if status.returncode == 0:
            problems.append(f"dpkg still knows the package: {status.stdout.splitlines()[:2]}")
        remaining = left_after_purge(files)
        if remaining:
            problems.append(f"{len(remaining)} paths of the package left: {remaining[:10]}")
        left = processes_of(INSTALL_DIR)
        if left:
            problems.append(f"processes left after purge: {left}")

        copies = starter_copies(home)
        if copies:
            problems.append(f"copies of the starter model in the user's folders: {copies}")
        kept = sorted(
            str(p.relative_to(home))
            for p in home.rglob("*")
            if p.is_file() and home / "tmp" not in p.parents
        )
        print(f"user's folders after purge ({len(kept)} files, no starter copy: {not copies}):")
        for name in kept[:40]:
            print(f"  ~/{name}")
    finally:
        if installed:  # a failure half way: leave the machine as it was
            _apt("purge", "-y", DEB_PACKAGE)
        shutil.rmtree(work, ignore_errors=True)

    print("install test: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    for problem in problems:
        print(f"install test: FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(
            "install test: OK (apt install, menu entry chats with the bundled starter in place, "
            "no process left, purge silent and complete, no starter copy in the user's folders)"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
