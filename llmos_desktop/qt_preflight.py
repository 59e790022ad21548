"""Before Qt starts on X11: are the system libraries its xcb platform plugin needs there?

PySide6's wheels bundle Qt but not the X11 client libraries that Qt's xcb platform plugin
(``PySide6/Qt/plugins/platforms/libqxcb.so`` and ``PySide6/Qt/lib/libQt6XcbQpa.so.6``)
links against. When one is missing, Qt aborts with "xcb-cursor0 or libxcb-cursor0 is
needed to load the Qt xcb platform plugin", whatever the missing library really is (on a
fresh Debian it was libxcb-icccm4 and libxcb-keysyms1, with libxcb-cursor0 installed), and
a user started from a menu sees nothing at all. So ``app.main`` asks the dynamic loader,
before the QApplication exists, which of the plugin's libraries it cannot find, and stops
with one message naming them and the command that installs them.

It only runs when Qt will actually use xcb (Linux, no other platform chosen, not in a
Wayland session) and when the plugin is where a PySide6 wheel or a PyInstaller bundle puts
it; anything unexpected (no plugin, no loader, a loader error) skips it, so it can only
ever turn Qt's abort into a clearer exit, never stop a start that would have worked.
``LLMOS_SKIP_QT_PREFLIGHT=1`` turns it off. It costs one run of the dynamic loader in
trace mode, a few milliseconds.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

SKIP_ENV = "LLMOS_SKIP_QT_PREFLIGHT"
PLUGIN_IN_PYSIDE6 = Path("Qt", "plugins", "platforms", "libqxcb.so")
LOG_NAME = "startup.log"
OS_RELEASE_FILES = (Path("/etc/os-release"), Path("/usr/lib/os-release"))
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found\s*$", re.MULTILINE)
_PT_INTERP = 3


class Packages(NamedTuple):
    """The package that provides one soname, per distribution family."""

    debian: str
    fedora: str
    arch: str


# What libqxcb.so and libQt6XcbQpa.so.6 need from the system on PySide6 6.7.3 and 6.8.1
# (both checked with ldd: the same list), plus what those libraries need in turn and
# xinerama/xinput/glx, which other Qt 6 builds and the xcb GL integration use. A soname
# that is not here is still named in the message, just without a package.
PACKAGES: dict[str, Packages] = {
    "libxcb-cursor.so.0": Packages("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": Packages("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": Packages("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": Packages("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": Packages(
        "libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"
    ),
    "libxcb-util.so.1": Packages("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-shape.so.0": Packages("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": Packages("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": Packages("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": Packages("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": Packages("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-render.so.0": Packages("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": Packages("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": Packages("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": Packages("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": Packages("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": Packages("libxcb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": Packages("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": Packages("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libX11-xcb.so.1": Packages("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": Packages("libx11-6", "libX11", "libx11"),
    "libGL.so.1": Packages("libgl1", "libglvnd-glx", "libglvnd"),
    "libGLX.so.0": Packages("libglx0", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": Packages("libegl1", "libglvnd-egl", "libglvnd"),
    "libfontconfig.so.1": Packages("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": Packages("libfreetype6", "freetype", "freetype2"),
    "libglib-2.0.so.0": Packages("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": Packages("libglib2.0-0", "glib2", "glib2"),
    "libdbus-1.so.3": Packages("libdbus-1-3", "dbus-libs", "dbus"),
}

# Distribution family -> (what the user calls it, the install command).
INSTALLERS: dict[str, tuple[str, str]] = {
    "debian": ("Debian/Ubuntu", "sudo apt install"),
    "fedora": ("Fedora", "sudo dnf install"),
    "arch": ("Arch", "sudo pacman -S"),
}
# os-release ID / ID_LIKE words -> family (derivatives name their parent in ID_LIKE).
_FAMILIES = {
    "debian": "debian",
    "ubuntu": "debian",
    "fedora": "fedora",
    "rhel": "fedora",
    "centos": "fedora",
    "arch": "arch",
}


def _qt_platform_argument(qt_args: Sequence[str]) -> str | None:
    """The value of Qt's own ``-platform NAME`` option (Qt also takes ``--platform``)."""
    chosen = None
    for i, arg in enumerate(qt_args[:-1]):
        if arg in ("-platform", "--platform"):
            chosen = qt_args[i + 1]
    return chosen


def qt_will_use_xcb(
    qt_args: Sequence[str], environ: Mapping[str, str], platform: str = sys.platform
) -> bool:
    """Whether Qt is about to load its xcb plugin, so that the check is worth running.

    Qt takes ``-platform`` over ``QT_QPA_PLATFORM``; a value starting with "xcb" means
    xcb, any other (offscreen in the tests and CI, wayland, ...) means not. With neither,
    Qt 6 picks wayland in a Wayland session and xcb otherwise; a Wayland session is
    recognised generously (WAYLAND_DISPLAY or XDG_SESSION_TYPE=wayland), because wrongly
    skipping the check only leaves Qt's own message, while wrongly running it could stop
    a start that would have worked. A custom platform plugin folder means some other
    libqxcb.so than the one checked here, so that skips it too.
    """
    if not platform.startswith("linux") or environ.get(SKIP_ENV, "") not in ("", "0"):
        return False
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") or "-platformpluginpath" in qt_args:
        return False
    name = _qt_platform_argument(qt_args)
    if name is None:
        name = environ.get("QT_QPA_PLATFORM", "")
    if name:
        return name.startswith("xcb")
    return not environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") != "wayland"


def find_xcb_plugin() -> Path | None:
    """libqxcb.so of the PySide6 that this process will use, or None where it is elsewhere.

    A PySide6 wheel has it at ``PySide6/Qt/plugins/platforms``; a PyInstaller bundle keeps
    that layout under ``sys._MEIPASS``. Distribution-packaged PySide6 uses the system's
    Qt, whose package manager already installed the plugin's libraries: no check.
    ``find_spec`` of the top-level package locates it without importing any Qt module.
    """
    if getattr(sys, "frozen", False):
        bundle = getattr(sys, "_MEIPASS", None)
        if not bundle:
            return None
        plugin = Path(bundle, "PySide6") / PLUGIN_IN_PYSIDE6
        return plugin if plugin.is_file() else None
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / PLUGIN_IN_PYSIDE6
        if plugin.is_file():
            return plugin
    return None


def find_dynamic_loader(executable: str | os.PathLike[str]) -> Path | None:
    """The ELF interpreter (PT_INTERP) of ``executable``: the loader that will load Qt.

    For ``sys.executable`` this is exactly the dynamic loader of this process, so its
    answer for the plugin is the answer Qt's dlopen will get, for the right architecture.
    """
    try:
        with open(executable, "rb") as elf:
            header = elf.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] not in (1, 2):
                return None
            wide = header[4] == 2
            order = "<" if header[5] == 1 else ">"
            if wide:
                (table_offset,) = struct.unpack_from(order + "Q", header, 0x20)
                entry_size, entries = struct.unpack_from(order + "HH", header, 0x36)
            else:
                (table_offset,) = struct.unpack_from(order + "I", header, 0x1C)
                entry_size, entries = struct.unpack_from(order + "HH", header, 0x2A)
            elf.seek(table_offset)
            table = elf.read(entry_size * entries)
            for start in range(0, len(table) - entry_size + 1, entry_size):
                (kind,) = struct.unpack_from(order + "I", table, start)
                if kind != _PT_INTERP:
                    continue
                if wide:
                    (offset,) = struct.unpack_from(order + "Q", table, start + 8)
                    (size,) = struct.unpack_from(order + "Q", table, start + 32)
                else:
                    (offset,) = struct.unpack_from(order + "I", table, start + 4)
                    (size,) = struct.unpack_from(order + "I", table, start + 16)
                elf.seek(offset)
                loader = Path(elf.read(size).rstrip(b"\0").decode())
                return loader if loader.is_file() else None
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _loads_in_process(soname: str) -> bool:
    """Whether this process can load ``soname`` after all (it is then resident for Qt)."""
    import ctypes  # only when something is reported missing: not on every start

    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(
    plugin: Path, environ: Mapping[str, str] | None = None, *, timeout: float = 5.0
) -> list[str] | None:
    """Sonames that ``plugin`` needs, directly or through another library, and that the
    dynamic loader cannot find; None when this could not be found out.

    Why the loader in trace mode (what ``ldd`` runs) rather than reading DT_NEEDED and
    trying ``ctypes.CDLL`` on each: the loader applies the real search rules (the Qt
    libraries' RUNPATH ``$ORIGIN/../../lib``, LD_LIBRARY_PATH, ld.so.cache) to the whole
    dependency tree and lists every missing library at once, without running any
    library's initialisers or loading anything into this process; dlopen stops at the
    first failure and DT_NEEDED alone misses what the needed libraries need. The loader
    is run directly (``sys.executable``'s PT_INTERP) because the ``ldd`` shell script
    costs three to six times as long (4-6 ms against 15-30 ms here); ``ldd`` is the fallback.
    Only the few reported missing are then tried with ``ctypes.CDLL``: one that loads
    (already in this process, or found through this executable's own RPATH) stays
    resident, so Qt's dlopen will find it, and it is not reported.
    """
    env = dict(os.environ if environ is None else environ)
    loader = find_dynamic_loader(sys.executable)
    if loader is not None:
        command = [str(loader), str(plugin)]
        env["LD_TRACE_LOADED_OBJECTS"] = "1"
    else:
        ldd = shutil.which("ldd", path=env.get("PATH"))
        if ldd is None:
            return None
        command = [ldd, str(plugin)]
    try:
        traced = subprocess.run(
            command,
            env=env,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    not_found = list(dict.fromkeys(_NOT_FOUND.findall(traced.stdout)))
    if traced.returncode != 0 and not not_found:
        return None  # not a loadable object for this loader: nothing reliable to say
    if any(_is_bundled(soname, plugin) for soname in not_found):
        return None  # a library of the bundle itself unseen: a layout this check misreads
    return [soname for soname in not_found if not _loads_in_process(soname)]


def _is_bundled(soname: str, plugin: Path) -> bool:
    """Whether ``soname`` ships with PySide6 or the frozen bundle next to ``plugin``.

    Such a library reported missing means the loader's view of this layout (a bundler
    that moved libraries away from where the RUNPATH points) is not the one Qt will
    have, so the check does not trust itself there.
    """
    folders = [plugin.parent, plugin.parents[2] / "lib"] if len(plugin.parents) > 2 else []
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        folders.append(Path(bundle))
    return any((folder / soname).exists() for folder in folders)


def distribution_family(os_release: str) -> str | None:
    """The family (debian, fedora, arch) from /etc/os-release's text: ID, then ID_LIKE."""
    fields: dict[str, str] = {}
    for line in os_release.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            fields[key] = value.strip().strip("\"'")
    for word in [fields.get("ID", ""), *fields.get("ID_LIKE", "").split()]:
        family = _FAMILIES.get(word.lower())
        if family is not None:
            return family
    return None


def read_os_release(candidates: Sequence[Path] = OS_RELEASE_FILES) -> str:
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return ""


def install_command(missing: Sequence[str], family: str) -> str | None:
    """The one command that installs the packages for ``missing`` on ``family``."""
    packages = dict.fromkeys(
        getattr(PACKAGES[soname], family) for soname in missing if soname in PACKAGES
    )
    if not packages:
        return None
    return f"{INSTALLERS[family][1]} {' '.join(packages)}"


def format_message(missing: Sequence[str], family: str | None) -> str:
    """What the user reads: which libraries, and the command that installs them."""
    lines = [
        "LLMOS Desktop cannot open its window: Qt's X11 (xcb) platform plugin needs",
        f"system libraries that are not installed: {', '.join(missing)}.",
        "",
    ]
    families = [family] if family is not None else list(INSTALLERS)
    commands = [(f, c) for f in families if (c := install_command(missing, f)) is not None]
    if len(commands) == 1:
        lines += ["Install them with:", f"    {commands[0][1]}"]
    elif commands:
        width = max(len(INSTALLERS[f][0]) for f, _ in commands) + 1
        lines.append("Install them with the command for your distribution:")
        lines += [f"    {INSTALLERS[f][0] + ':':<{width}} {c}" for f, c in commands]
    unmapped = [soname for soname in missing if soname not in PACKAGES]
    if unmapped:
        lines.append(
            f"Install the package that provides {', '.join(unmapped)} "
            "(apt-file search / dnf provides / pacman -F find it)."
        )
    lines += ["", "Then start LLMOS Desktop again."]
    return "\n".join(lines)


def _write_log(message: str, environ: Mapping[str, str]) -> Path | None:
    """Also leave the message in the log folder: started from a menu, stderr goes nowhere."""
    from llmos_desktop.core.paths import app_paths

    try:
        log = app_paths(dict(environ)).logs / LOG_NAME
        log.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write_text(f"{stamp}\n{message}\n", encoding="utf-8")
    except OSError:
        return None
    return log


def preflight(
    qt_args: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    plugin: Path | None = None,
    os_release: str | None = None,
    platform: str = sys.platform,
) -> int | None:
    """None when Qt may start; else the exit status (1), after the message is printed.

    ``qt_args`` are the arguments Qt will see (without the program name); ``plugin``,
    ``os_release`` and ``platform`` default to this machine's and are there for tests.
    """
    env = os.environ if environ is None else environ
    if not qt_will_use_xcb(qt_args, env, platform):
        return None
    if plugin is None:
        plugin = find_xcb_plugin()
        if plugin is None:
            return None
    missing = missing_libraries(plugin, env)
    if not missing:
        return None
    text = read_os_release() if os_release is None else os_release
    message = format_message(missing, distribution_family(text))
    log = _write_log(message, env)
    if log is not None:
        message += f"\n(This message is also in {log}.)"
    if sys.stderr is not None:
        print(message, file=sys.stderr, flush=True)
    return 1
