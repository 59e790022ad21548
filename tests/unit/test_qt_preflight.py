"""The check before Qt starts on X11: when it runs, what it finds, what it tells the user.

The finding is tested for real: the real dynamic loader on PySide6's real libqxcb.so, and
on a copy of it whose DT_NEEDED entry for libxcb-cursor.so.0 is rewritten to
libxcb-cursor.so.9, a soname no system has. (Hiding a system library through the
environment is not possible: LD_LIBRARY_PATH only adds folders to the search.)
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from llmos_desktop import qt_preflight
from llmos_desktop.qt_preflight import (
    INSTALLERS,
    PACKAGES,
    distribution_family,
    find_dynamic_loader,
    find_xcb_plugin,
    format_message,
    missing_libraries,
    preflight,
    qt_will_use_xcb,
)

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's"
)
FAKE_SONAME = "libxcb-cursor.so.9"


def _x11_env(**extra: str) -> dict[str, str]:
    """This process's environment as an X11 session would have it (no platform chosen)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "QT_QPA_PLATFORM",
            "WAYLAND_DISPLAY",
            "XDG_SESSION_TYPE",
            "QT_QPA_PLATFORM_PLUGIN_PATH",
            qt_preflight.SKIP_ENV,
        }
    }
    env.update(extra)
    return env


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


@pytest.fixture
def real_plugin() -> Path:
    plugin = find_xcb_plugin()
    if plugin is None:
        pytest.skip("this PySide6 has no libqxcb.so in the wheel layout")
    return plugin


@pytest.fixture
def broken_plugin(real_plugin: Path, tmp_path: Path) -> Path:
    """A copy of libqxcb.so in a PySide6-shaped folder that needs libxcb-cursor.so.9.

    The soname is the same length, so only the string in .dynstr changes; Qt/lib is a
    link to the real one, so the copy's RUNPATH ($ORIGIN/../../lib) finds the bundled Qt.
    """
    qt = tmp_path / "PySide6" / "Qt"
    platforms = qt / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (qt / "lib").symlink_to(real_plugin.parents[2] / "lib", target_is_directory=True)
    data = real_plugin.read_bytes()
    needed = b"\0libxcb-cursor.so.0\0"
    assert data.count(needed) == 1
    copy = platforms / "libqxcb.so"
    copy.write_bytes(data.replace(needed, b"\0" + FAKE_SONAME.encode() + b"\0"))
    return copy


# --- when the check runs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "env", "qt_args", "expected"),
    [
        ("linux", {}, [], True),
        ("linux", {"QT_QPA_PLATFORM": ""}, [], True),
        ("linux", {"QT_QPA_PLATFORM": "xcb"}, [], True),
        ("linux", {"QT_QPA_PLATFORM": "xcb:nograb"}, [], True),
        ("linux", {"QT_QPA_PLATFORM": "offscreen"}, [], False),
        ("linux", {"QT_QPA_PLATFORM": "minimal"}, [], False),
        ("linux", {"QT_QPA_PLATFORM": "wayland"}, [], False),
        ("linux", {"QT_QPA_PLATFORM": "wayland;xcb"}, [], False),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, [], False),
        ("linux", {"XDG_SESSION_TYPE": "wayland"}, [], False),
        ("linux", {"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, [], True),
        ("linux", {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, [], True),
        # Qt's -platform option wins over the environment, in both directions.
        ("linux", {}, ["-platform", "offscreen"], False),
        ("linux", {"QT_QPA_PLATFORM": "offscreen"}, ["-platform", "xcb"], True),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, ["--platform", "xcb"], True),
        ("linux", {}, ["-style", "fusion"], True),
        # Another plugin folder means another libqxcb.so; the user can switch it off.
        ("linux", {"QT_QPA_PLATFORM_PLUGIN_PATH": "/opt/qt/plugins"}, [], False),
        ("linux", {qt_preflight.SKIP_ENV: "1"}, [], False),
        ("linux", {qt_preflight.SKIP_ENV: "0"}, [], True),
        ("win32", {}, [], False),
        ("darwin", {}, [], False),
        ("darwin", {"QT_QPA_PLATFORM": "xcb"}, [], False),
    ],
)
def test_the_check_runs_only_when_qt_will_load_xcb(
    platform: str, env: Mapping[str, str], qt_args: list[str], expected: bool
) -> None:
    assert qt_will_use_xcb(qt_args, env, platform) is expected


@linux_only
def test_offscreen_never_looks_at_the_plugin(broken_plugin: Path) -> None:
    env = _x11_env(QT_QPA_PLATFORM="offscreen")
    assert preflight([], env, plugin=broken_plugin, os_release="ID=debian") is None
    assert preflight(["-platform", "offscreen"], _x11_env(), plugin=broken_plugin) is None


def test_a_frozen_build_is_checked_only_where_its_plugin_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert find_xcb_plugin() is None
    plugin = tmp_path / "PySide6" / qt_preflight.PLUGIN_IN_PYSIDE6
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    assert find_xcb_plugin() == plugin


# --- what it finds, for real ---------------------------------------------------------


@linux_only
def test_the_loader_is_this_processes_own() -> None:
    loader = find_dynamic_loader(sys.executable)
    assert loader is not None and loader.is_file()
    assert loader.name.startswith("ld"), loader


@linux_only
def test_no_loader_is_read_from_a_library_or_a_text_file(real_plugin: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n", encoding="utf-8")
    assert find_dynamic_loader(real_plugin) is None  # a shared library has no PT_INTERP
    assert find_dynamic_loader(text) is None
    assert find_dynamic_loader(tmp_path / "absent") is None


@linux_only
def test_this_machine_real_plugin_agrees_with_ldd(real_plugin: Path) -> None:
    """What the check finds on this machine is what ldd says (less what loads anyway)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("no ldd here")
    missing = missing_libraries(real_plugin)
    assert missing is not None
    out = subprocess.run(
        [ldd, str(real_plugin)], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    from_ldd = dict.fromkeys(
        line.split()[0] for line in out.splitlines() if line.strip().endswith("=> not found")
    )
    assert missing == [soname for soname in from_ldd if not _loads(soname)]
    for soname in missing:
        assert not _loads(soname)


@linux_only
def test_a_missing_dependency_is_found(broken_plugin: Path, real_plugin: Path) -> None:
    missing = missing_libraries(broken_plugin, _x11_env())
    assert missing is not None
    assert FAKE_SONAME in missing
    # Everything else it reports is what the untouched plugin misses on this machine.
    assert set(missing) - {FAKE_SONAME} == set(missing_libraries(real_plugin) or [])


@linux_only
def test_a_bundle_library_reported_missing_makes_the_check_stand_aside(
    broken_plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen bundle holding the "missing" library where the loader does not look: the
    layout is not what the check understands, so it says nothing rather than stop the app."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / FAKE_SONAME).symlink_to(broken_plugin)  # any existing file will do
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert missing_libraries(broken_plugin, _x11_env()) is None
    assert preflight([], _x11_env(), plugin=broken_plugin) is None


@linux_only
def test_ldd_is_the_fallback_without_a_loader_path(
    broken_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("ldd") is None:
        pytest.skip("no ldd here")
    monkeypatch.setattr(qt_preflight, "find_dynamic_loader", lambda _executable: None)
    missing = missing_libraries(broken_plugin, _x11_env())
    assert missing is not None and FAKE_SONAME in missing


@linux_only
def test_a_plugin_whose_libraries_are_all_there_passes(real_plugin: Path) -> None:
    # The offscreen plugin: the test suite runs on it, so its libraries are here.
    offscreen = real_plugin.with_name("libqoffscreen.so")
    assert missing_libraries(offscreen, _x11_env()) == []
    assert preflight([], _x11_env(), plugin=offscreen) is None


@linux_only
def test_something_that_is_no_library_is_not_judged(tmp_path: Path) -> None:
    text = tmp_path / "libqxcb.so"
    text.write_text("not an ELF file\n", encoding="utf-8")
    assert missing_libraries(text, _x11_env()) is None
    assert preflight([], _x11_env(), plugin=text) is None


@linux_only
def test_preflight_stops_with_the_message_and_logs_it(
    broken_plugin: Path, llmos_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _x11_env(LLMOS_HOME=str(llmos_home))
    status = preflight([], env, plugin=broken_plugin, os_release='ID="fedora"\n')
    assert status == 1
    err = capsys.readouterr().err
    missing = missing_libraries(broken_plugin, env) or []
    assert f"not installed: {', '.join(missing)}." in err.replace("\n", " ")
    assert f"Install the package that provides {FAKE_SONAME}" in err  # unmapped, still named
    mapped = [soname for soname in missing if soname in PACKAGES]
    if mapped:  # this machine misses real ones too (a bare Debian misses icccm, keysyms)
        packages = dict.fromkeys(PACKAGES[soname].fedora for soname in mapped)
        assert "sudo dnf install " + " ".join(packages) in err
    log = llmos_home / "logs" / qt_preflight.LOG_NAME
    assert f"(This message is also in {log}.)" in err
    assert format_message(missing, "fedora") in log.read_text(encoding="utf-8")


@linux_only
def test_the_app_exits_1_with_the_message_instead_of_a_qt_abort(
    real_plugin: Path, llmos_home: Path
) -> None:
    """``python -m llmos_desktop`` on X11 here: only where this machine misses libraries."""
    missing = missing_libraries(real_plugin)
    if not missing:
        pytest.skip("this machine has every library the xcb plugin needs")
    env = _x11_env(LLMOS_HOME=str(llmos_home))
    env.pop("DISPLAY", None)
    run = subprocess.run(
        [sys.executable, "-m", "llmos_desktop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert "Qt's X11 (xcb) platform plugin needs" in run.stderr
    for soname in missing:
        assert soname in run.stderr
    assert "qt.qpa" not in run.stderr  # Qt never got to load the plugin
    assert (llmos_home / "logs" / qt_preflight.LOG_NAME).is_file()


# --- what it says --------------------------------------------------------------------

MISSING = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@pytest.mark.parametrize(
    ("family", "command"),
    [
        ("debian", "sudo apt install libxcb-icccm4 libxcb-keysyms1"),
        ("fedora", "sudo dnf install xcb-util-wm xcb-util-keysyms"),
        ("arch", "sudo pacman -S xcb-util-wm xcb-util-keysyms"),
    ],
)
def test_the_message_names_the_libraries_and_one_command(family: str, command: str) -> None:
    message = format_message(MISSING, family)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert f"Install them with:\n    {command}\n" in message
    others = [c for f, (_, c) in INSTALLERS.items() if f != family]
    assert not any(other in message for other in others)


def test_an_unknown_distribution_gets_all_three_commands() -> None:
    message = format_message(MISSING, None)
    assert "Debian/Ubuntu: sudo apt install libxcb-icccm4 libxcb-keysyms1" in message
    assert "Fedora:        sudo dnf install xcb-util-wm xcb-util-keysyms" in message
    assert "Arch:          sudo pacman -S xcb-util-wm xcb-util-keysyms" in message


def test_packages_are_listed_once_and_unknown_sonames_still_named() -> None:
    message = format_message(["libxcb-shape.so.0", "libxcb-xkb.so.1", "libfoo.so.3"], "arch")
    assert "sudo pacman -S libxcb\n" in message
    assert "libfoo.so.3" in message and "provides libfoo.so.3" in message
    only_unknown = format_message(["libfoo.so.3"], "debian")
    assert "sudo apt" not in only_unknown and "provides libfoo.so.3" in only_unknown


def test_every_library_the_plugin_needs_on_pyside6_67_and_68_has_packages() -> None:
    # libqxcb.so + libQt6XcbQpa.so.6, PySide6 6.7.3 and 6.8.1 (the same list), per ldd.
    needed = [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-image.so.0",
        "libxcb-keysyms.so.1",
        "libxcb-randr.so.0",
        "libxcb-render-util.so.0",
        "libxcb-render.so.0",
        "libxcb-shape.so.0",
        "libxcb-shm.so.0",
        "libxcb-sync.so.1",
        "libxcb-xfixes.so.0",
        "libxcb-xkb.so.1",
        "libxcb.so.1",
        "libxkbcommon-x11.so.0",
        "libxkbcommon.so.0",
        "libX11-xcb.so.1",
        "libX11.so.6",
        "libGL.so.1",
        "libglib-2.0.so.0",
        "libgthread-2.0.so.0",
        "libxcb-util.so.1",  # through libxcb-cursor/image/render-util
    ]
    assert [soname for soname in needed if soname not in PACKAGES] == []
    for packages in PACKAGES.values():
        assert all(packages) and not any(" " in name for name in packages)


@pytest.mark.parametrize(
    ("os_release", "family"),
    [
        ("ID=debian\n", "debian"),
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "debian"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
        ("ID=fedora\n", "fedora"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
        ("ID=arch\n", "arch"),
        ("ID=manjaro\nID_LIKE=arch\n", "arch"),
        ('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', None),
        ("", None),
    ],
)
def test_the_distribution_comes_from_os_release(os_release: str, family: str | None) -> None:
    assert distribution_family(os_release) == family
