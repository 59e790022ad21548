"""Screenshot of the app installed from the .deb, as a user sees it (docs/screenshot-linux.png).

1. Unpacks the .deb into a temporary root (``dpkg-deb -x``: the files ``dpkg -i`` would
   install, without touching this system).
2. Starts Xvfb and a window manager (openbox), so the window has its frame.
3. Launches the app from the menu entry's ``Exec=`` line, with the command looked up
   in the unpacked ``usr/bin`` (its symlink into ``/usr/lib/llmos-desktop`` followed
   inside the root), and a fresh ``LLMOS_HOME``.
4. With ``--model``, opens it the way a user does: Alt+O, the file name typed into the
   file dialog, Enter; then types ``--message`` and presses Enter, waits for the reply.
5. Saves a PNG of the screen.

Needs Debian's ``xvfb``, ``openbox`` and ``xdotool``, and Pillow (the ``packaging``
extra). Example::

    python packaging/linux/screenshot.py dist/llmos-desktop_0.1.0_amd64.deb \\
        docs/screenshot-linux.png --model /tmp/gemma.gguf \\
        --message "Tell me one fact about the sea."
"""

from __future__ import annotations

import argparse
import configparser
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DESKTOP_ENTRY = "usr/share/applications/llmos-desktop.desktop"
WINDOW_TITLE = "LLMOS Desktop"
SCREEN = (1100, 780)


def exec_command(root: Path) -> list[str]:
    """The menu entry's Exec line as argv, its program resolved inside ``root``."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(root / DESKTOP_ENTRY, encoding="utf-8")
    argv = [arg for arg in shlex.split(entry["Desktop Entry"]["Exec"]) if not arg.startswith("%")]
    program = argv[0]
    candidate = (
        root / program.lstrip("/") if program.startswith("/") else root / "usr/bin" / program
    )
    # Follow symlinks one at a time, keeping absolute targets inside the root.
    for _ in range(10):
        if not candidate.is_symlink():
            break
        target = Path(os.readlink(candidate))
        candidate = (
            root / str(target).lstrip("/") if target.is_absolute() else candidate.parent / target
        )
    if not candidate.is_file():
        raise SystemExit(f"the Exec program {program!r} is not in the package ({candidate})")
    return [str(candidate), *argv[1:]]


def missing_depends(deb: Path) -> list[str]:
    """Packages the .deb depends on that this system lacks (apt would install them)."""
    depends = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    names = [item.split("|")[0].split("(")[0].strip() for item in depends.split(",")]
    missing = []
    for name in filter(None, names):
        installed = subprocess.run(["dpkg", "-s", name], capture_output=True, check=False)
        if installed.returncode != 0:
            missing.append(name)
    return missing


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def xdotool(*args: str) -> str:
    result = subprocess.run(["xdotool", *args], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def visible_window(name: str) -> str:
    """The id of a visible window whose title matches the regex ``name``, or ""."""
    found = xdotool("search", "--onlyvisible", "--name", name)
    return found.splitlines()[0] if found else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("deb", type=Path)
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--model", type=Path, help="a GGUF file to open before the screenshot")
    parser.add_argument("--message", default="Tell me one fact about the sea.")
    parser.add_argument("--reply-seconds", type=float, default=4.0, help="time for the reply")
    parser.add_argument("--display", default=":57")
    args = parser.parse_args(argv)
    for tool in ("Xvfb", "openbox", "xdotool", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install xvfb openbox xdotool dpkg")
    missing = missing_depends(args.deb)
    if missing:
        raise SystemExit(f"the package needs these first: apt-get install {' '.join(missing)}")
    from PIL import ImageGrab

    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="llmos-shot-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(["dpkg-deb", "-x", str(args.deb), str(root)], check=True)
        command = exec_command(root)
        print("Exec line resolved to:", shlex.join(command))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "LLMOS_"))}
        env.update(DISPLAY=args.display, LLMOS_HOME=str(Path(tmp) / "home"), LANG="C.UTF-8")
        os.environ["DISPLAY"] = args.display  # for xdotool and openbox
        try:
            width, height = SCREEN
            processes.append(
                subprocess.Popen(
                    [
                        "Xvfb",
                        args.display,
                        "-screen",
                        "0",
                        f"{width}x{height}x24",
                        "-nolisten",
                        "tcp",
                    ],
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for("Xvfb", lambda: bool(xdotool("getmouselocation")), 20)
            processes.append(subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL))
            time.sleep(1)
            app = subprocess.Popen(command, env=env, cwd=tmp)
            processes.append(app)
            title = f"^{WINDOW_TITLE}$"
            wait_for("the main window", lambda: bool(visible_window(title)), 60)
            xdotool("windowactivate", "--sync", visible_window(title))
            time.sleep(1.5)
            if args.model is not None:
                xdotool("key", "alt+o")  # Open GGUF…
                wait_for("the file dialog", lambda: bool(visible_window("Open a GGUF model")), 20)
                time.sleep(0.5)
                xdotool("type", "--delay", "20", str(args.model.resolve()))
                xdotool("key", "Return")
                time.sleep(6)  # the engine starts and loads the model; focus moves to the input
                xdotool("type", "--delay", "30", args.message)
                xdotool("key", "Return")
                time.sleep(args.reply_seconds)
            if app.poll() is not None:
                raise SystemExit(f"the app exited with code {app.returncode}")
            image = ImageGrab.grab(xdisplay=args.display)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            image.save(args.out)
            print(f"saved {args.out} ({image.width}x{image.height})")
        finally:
            for proc in reversed(processes):
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
