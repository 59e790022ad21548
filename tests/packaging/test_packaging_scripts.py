"""The packaging scripts' own logic: Qt pruning, versions, the llama build check, files."""

from __future__ import annotations

import configparser
import hashlib
import json
import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import PACKAGING, ROOT, load_script

bundle_layout = load_script("bundle_layout.py", "bundle_layout")
build = load_script("build.py", "llmos_packaging_build")
make_deb = load_script("linux/make_deb.py", "llmos_packaging_make_deb")
screenshot = load_script("linux/screenshot.py", "llmos_packaging_screenshot")


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/plugins/platforms/qwindows.dll", True),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
        ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False),
        ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
        ("PySide6/Qt/translations/qtbase_zh_CN.qm", True),
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("numpy/_core/_multiarray_umath.so", True),
    ],
)
def test_qt_pruning(dest: str, kept: bool) -> None:
    assert bundle_layout.keep_qt_file(dest) is kept


def test_hook_filter_and_system_libraries() -> None:
    pairs = [
        ("/x/PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms"),
        ("/x/PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms"),
        ("C:\\x\\PySide6\\plugins\\platforms\\qwindows.dll", "PySide6\\plugins\\platforms"),
    ]
    assert [s for s, _ in bundle_layout.filter_hook_files(pairs)] == [pairs[0][0], pairs[2][0]]
    assert not bundle_layout.keep_bundle_file("libstdc++.so.6", "linux")
    assert bundle_layout.keep_bundle_file("libstdc++.so.6", "darwin")


def test_llama_cpp_hook_is_shipped() -> None:
    hook = (PACKAGING / "pyinstaller-hooks" / "hook-llama_cpp.py").read_text("utf-8")
    assert 'collect_dynamic_libs("llama_cpp")' in hook
    spec = (ROOT / "build.spec").read_text("utf-8")
    assert "pyinstaller-hooks" in spec
    assert "--engine-child" in spec  # documented; the supervisor adds the flag itself


@pytest.mark.parametrize(
    ("pep440", "debian"),
    [
        ("0.1.0", "0.1.0"),
        ("1.0rc1", "1.0~rc1"),
        ("0.2.0.dev3", "0.2.0~dev3"),
        ("0.0.0+unknown", "0.0.0+unknown"),
    ],
)
def test_debian_version(pep440: str, debian: str) -> None:
    assert make_deb.debian_version(pep440) == debian


def test_a_variant_sorts_before_its_release() -> None:
    """``0.1.0~native`` never replaces (or is taken for) the 0.1.0 a user downloads."""
    assert make_deb.debian_version("0.1.0", "native") == "0.1.0~native"
    assert make_deb.debian_version("0.1.0", "native-nostarter") == "0.1.0~native.nostarter"
    assert make_deb.debian_version("1.0rc1", "nostarter") == "1.0~rc1~nostarter"
    if shutil.which("dpkg") is None:
        pytest.skip("needs dpkg to compare versions")
    for older, newer in [("0.1.0~native", "0.1.0"), ("0.1.0~nostarter", "0.1.0")]:
        subprocess.run(["dpkg", "--compare-versions", older, "lt", newer], check=True)


def test_required_versions_read_from_elf_strings(tmp_path: Path) -> None:
    (tmp_path / "a.so").write_bytes(b"\x7fELF....GLIBC_2.17\x00GLIBC_2.34\x00GLIBCXX_3.4.29\x00")
    (tmp_path / "b.txt").write_bytes(b"GLIBC_2.99\x00")  # not an ELF file
    assert make_deb.required_versions(tmp_path) == ("2.34", "11")


def test_portable_flag_detection() -> None:
    assert build._is_portable("-DGGML_NATIVE=off")
    assert build._is_portable("-DGGML_CUDA=on -DGGML_NATIVE=OFF")
    assert not build._is_portable("-DGGML_CUDA=on")
    assert not build._is_portable("-DGGML_NATIVE=on")
    assert build._is_portable(build.portable_cmake_args())


def test_release_build_refuses_an_unrecorded_llama(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    info = {"version": "0.3.36", "system_info": "CPU : AVX2 = 1 | AVX512 = 1 |"}
    monkeypatch.setattr(build, "llama_build_info", lambda: info)
    monkeypatch.setattr(build, "llama_digest", lambda: "digest-now")
    monkeypatch.setattr(build, "MARKER", tmp_path / "marker.json")
    with pytest.raises(SystemExit, match=r"(?s)refusing a portable build.*AVX512.*--native"):
        build.check_llama(release=True)
    assert "NOT verified portable" in build.check_llama(release=False)
    assert "illegal instruction" in capsys.readouterr().err

    build.MARKER.write_text(json.dumps({"cmake_args": "-DGGML_NATIVE=off", "digest": "old"}))
    with pytest.raises(SystemExit):  # llama-cpp-python was reinstalled since the record
        build.check_llama(release=True)
    build.MARKER.write_text(json.dumps({"cmake_args": "-DGGML_NATIVE=off", "digest": "digest-now"}))
    assert "GGML_NATIVE=off" in build.check_llama(release=True)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_duplicate_llama_libraries_become_symlinks(tmp_path: Path) -> None:
    lib = tmp_path / "_internal" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (lib / "libllama.so").write_bytes(b"same")
    (lib / "libllama.so.0").write_bytes(b"same")
    (lib / "libggml.so").write_bytes(b"other")
    assert build.link_duplicate_libraries(tmp_path) == 4
    assert (lib / "libllama.so").is_symlink()
    assert (lib / "libllama.so").resolve() == (lib / "libllama.so.0").resolve()
    assert (
        hashlib.sha256((lib / "libllama.so").read_bytes()).digest()
        == hashlib.sha256(b"same").digest()
    )
    assert not (lib / "libggml.so").is_symlink()


def test_desktop_entry() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PACKAGING / "linux" / "llmos-desktop.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == bundle_layout.GUI_NAME
    assert entry["Icon"] == "llmos-desktop"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")


def _tiny_bundle(tmp_path: Path, build_info: dict[str, object] | None = None) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    for name in (bundle_layout.GUI_NAME, bundle_layout.CLI_NAME):
        (bundle / name).write_text("#!/bin/sh\n", "utf-8")
        (bundle / name).chmod(0o755)
    if build_info is not None:
        (bundle / "_internal" / "build-info.json").write_text(json.dumps(build_info), "utf-8")
    return bundle


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_deb_menu_entry_launches_the_bundled_app(tmp_path: Path) -> None:
    """The .deb's menu entry (Exec=) leads, through /usr/bin, to the app in /usr/lib."""
    from llmos_desktop.build_info import BuildInfo

    info = BuildInfo(variant="portable", starter=True, cpu_baseline="x86-64-v3").to_json()
    deb = make_deb.build_deb(
        _tiny_bundle(tmp_path, info), "1.2.3", tmp_path / "out", compression="gzip"
    )
    assert deb.name.startswith("llmos-desktop_1.2.3_")
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    command = screenshot.exec_command(root)
    assert command == [str(root / "usr" / "lib" / "llmos-desktop" / bundle_layout.GUI_NAME)]
    # Nothing under /opt: dpkg would own /opt and warn that it is not empty at removal.
    assert not (root / "opt").exists()
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends", "Description"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = " ".join(fields.split())  # the description is wrapped
    assert "Package: llmos-desktop" in fields and "Version: 1.2.3" in fields
    assert "hicolor-icon-theme" in fields
    assert "x86-64-v3 processors or newer" in fields
    assert "Includes a small starter model" in fields


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_variants_carry_their_tag_in_names_and_description(tmp_path: Path) -> None:
    from llmos_desktop.build_info import BuildInfo, file_name_tag

    info = BuildInfo(variant="native", starter=False).to_json()
    tag = file_name_tag(portable=False, starter=False)
    bundle = _tiny_bundle(tmp_path, info)
    deb = make_deb.build_deb(bundle, "1.2.3", tmp_path / "out", compression="gzip", tag=tag)
    assert deb.name == f"llmos-desktop_1.2.3~native.nostarter_{make_deb.debian_arch()}.deb"
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version", "Description"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = " ".join(fields.split())  # the description is wrapped
    assert "Version: 1.2.3~native.nostarter" in fields
    assert "tuned to the processor of the computer it was built on" in fields
    assert "does not include the starter model" in fields
    tarball = make_deb.build_tarball(bundle, "1.2.3", tmp_path / "out", tag=tag)
    assert tarball.name.startswith("llmos-desktop-1.2.3-native-nostarter-linux-")
    # dpkg accepts the control file (a malformed Description would fail here).
    subprocess.run(["dpkg-deb", "--info", str(deb)], check=True, capture_output=True)


def test_the_wheel_cache_builds_once_per_version_and_cmake_args(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip itself is replaced (a real build takes ten minutes): what is checked is which
    pip commands run, where the wheel goes, and what is recorded."""
    commands: list[list[str]] = []
    digest = ["native-build"]

    def fake_pip(*args: str, env: dict[str, str] | None = None) -> None:
        commands.append(list(args))
        if args[0] == "wheel":
            assert env is not None and env["CMAKE_ARGS"] == "-DGGML_NATIVE=off"
            folder = Path(args[args.index("--wheel-dir") + 1])
            folder.mkdir(parents=True)
            (folder / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").write_bytes(b"w")
        else:
            digest[0] = "portable-build"

    monkeypatch.setattr(build, "_pip", fake_pip)
    monkeypatch.setattr(build, "llama_build_info", lambda: {"version": "0.3.36"})
    monkeypatch.setattr(build, "llama_digest", lambda: digest[0])
    monkeypatch.setattr(build, "MARKER", tmp_path / "marker.json")
    cache = tmp_path / "cache"

    build.rebuild_llama("-DGGML_NATIVE=off", cache)
    assert [c[0] for c in commands] == ["wheel", "install"]
    key = build.wheel_cache_key("0.3.36", "-DGGML_NATIVE=off")
    assert (cache / key / "llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl").is_file()
    assert not (cache / (key + ".partial")).exists()
    marker = json.loads(build.MARKER.read_text())
    assert marker["digest"] == "portable-build" and marker["cmake_args"] == "-DGGML_NATIVE=off"

    commands.clear()
    build.rebuild_llama("-DGGML_NATIVE=off", cache)  # already installed: nothing to do
    assert commands == []

    digest[0] = "reinstalled-by-pip"  # e.g. a fresh CI venv: install from the cache
    build.rebuild_llama("-DGGML_NATIVE=off", cache)
    assert [c[0] for c in commands] == ["install"]

    commands.clear()
    other = "-DGGML_NATIVE=off -DGGML_AVX2=off"
    assert build.wheel_cache_key("0.3.36", other) != key
    with pytest.raises(AssertionError):  # a new key builds again (with its own CMAKE_ARGS)
        build.rebuild_llama(other, cache)
    assert [c[0] for c in commands] == ["wheel"]
    with pytest.raises(SystemExit, match="GGML_NATIVE=off"):
        build.rebuild_llama("-DGGML_CUDA=on", cache)


def test_windows_and_macos_recipes_name_real_files() -> None:
    iss = (PACKAGING / "windows" / "llmos-desktop.iss").read_text("utf-8")
    assert "PrivilegesRequired=lowest" in iss
    icon = re.search(r"^SetupIconFile=(.+)$", iss, re.MULTILINE)
    assert icon is not None
    assert (PACKAGING / "windows" / icon[1].replace("\\", "/")).resolve().is_file()
    plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    spec = (ROOT / "build.spec").read_text("utf-8")
    assert '"LSMinimumSystemVersion": MACOS_MINIMUM' in spec
    assert bundle_layout.BUNDLE_ID == "org.llmos.desktop"
    assert bundle_layout.MACOS_MINIMUM == "12.0"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts")
def test_shell_scripts_parse() -> None:
    for script in (
        PACKAGING / "macos" / "make_dmg.sh",
        PACKAGING / "linux" / "install-desktop-entry.sh",
    ):
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_every_cli_subcommand_module_is_bundled() -> None:
    """cli.py imports ``llmos_desktop.cli_<name>`` by name: the hook must list each one."""
    hook = load_script("pyinstaller-hooks/hook-llmos_desktop.cli.py", "llmos_hook_cli")
    modules = sorted(f"llmos_desktop.{p.stem}" for p in (ROOT / "llmos_desktop").glob("cli_*.py"))
    assert modules and hook.hiddenimports == modules
