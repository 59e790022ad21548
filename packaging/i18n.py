"""Update the translation sources and build the compiled translations.

    python packaging/i18n.py           # lupdate: ui/ and app.py -> resources/i18n/*.ts,
                                       # then lrelease: *.ts -> *.qm
    python packaging/i18n.py --check   # exit 1 when a .ts lacks new strings or has
                                       # unfinished ones, or a .qm differs from its .ts

After changing user-visible strings: run it, translate the new entries (Qt Linguist,
``pyside6-linguist resources/i18n/llmos_zh_CN.ts``, or any editor: each is a
``<message>`` whose ``<translation type="unfinished">`` needs text), run it again and
commit the .ts and the .qm. Like the icons (make_icons.py), the .qm files are committed
and builds never regenerate them: a wheel, an installer or CI needs no Qt tools, and
tests/ui/test_i18n.py fails when a .qm no longer matches its .ts.

The tools are PySide6's own lupdate and lrelease (PySide6-Essentials ships them). Source
locations are left out of the .ts (``-locations none``), so it changes only when strings
change; strings that are gone are dropped (``-no-obsolete``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "resources" / "i18n"
PACKAGE = ROOT / "llmos_desktop"
SOURCE_LANGUAGE = "en"
# The shipped translations; core/settings.py's Language lists the same (a test checks).
LANGUAGES = ("zh_CN",)


def sources() -> list[Path]:
    """The files whose strings are translated: the widgets, the composition root, and
    the Qt-free modules that mark strings with ``QT_TRANSLATE_NOOP`` for the UI to
    translate (core/ cannot call Qt)."""
    marked = [
        path
        for path in sorted((PACKAGE / "core").rglob("*.py"))
        if "QT_TRANSLATE_NOOP(" in path.read_text(encoding="utf-8")
    ]
    return [*sorted((PACKAGE / "ui").rglob("*.py")), PACKAGE / "app.py", *marked]


def ts_file(language: str) -> Path:
    return I18N / f"llmos_{language}.ts"


def qm_file(language: str) -> Path:
    return I18N / f"llmos_{language}.qm"


def _tool(name: str) -> str:
    """PySide6's copy of a Qt tool (the pyside6-* scripts only wrap these)."""
    import PySide6

    exe = Path(PySide6.__file__).resolve().parent / (
        name + (".exe" if sys.platform == "win32" else "")
    )
    if exe.is_file():
        return str(exe)
    found = shutil.which(f"pyside6-{name}")
    if found is None:
        raise SystemExit(f"{name} not found: install PySide6-Essentials")
    return found


def lupdate(
    ts: Path, language: str, files: list[Path] | None = None, *, keep_obsolete: bool = False
) -> None:
    """Merge the strings of ``files`` (default: sources()) into ``ts``."""
    command = [
        _tool("lupdate"),
        "-silent",
        "-locations",
        "none",
        "-source-language",
        SOURCE_LANGUAGE,
        "-target-language",
        language,
    ]
    if not keep_obsolete:
        command.append("-no-obsolete")
    command += [str(path) for path in (files or sources())]
    command += ["-ts", str(ts)]
    subprocess.run(command, check=True, capture_output=True, text=True)


def lrelease(ts: Path, qm: Path) -> None:
    """Compile ``ts`` into ``qm`` (unfinished entries are left out: they show in English)."""
    subprocess.run(
        [_tool("lrelease"), "-silent", "-nounfinished", str(ts), "-qm", str(qm)],
        check=True,
        capture_output=True,
        text=True,
    )


def messages(ts: Path) -> list[tuple[str, str, str, str]]:
    """(context, source, translation, type) of every message in ``ts``; type is "" for a
    finished one, else "unfinished", "obsolete" or "vanished"."""
    found = []
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            translation = message.find("translation")
            if translation is None:
                found.append((name, message.findtext("source") or "", "", "unfinished"))
                continue
            # A plural message has one <numerusform> per plural form of the language.
            forms = [form.text or "" for form in translation.iter("numerusform")]
            text = "\n".join(forms) if forms else (translation.text or "")
            if forms and not all(forms):
                text = ""
            found.append(
                (name, message.findtext("source") or "", text, translation.get("type") or "")
            )
    return found


def unfinished(ts: Path) -> list[tuple[str, str]]:
    """(context, source) of each message still to translate (active ones only)."""
    return [
        (context, source)
        for context, source, text, kind in messages(ts)
        if kind == "unfinished" or (kind == "" and not text)
    ]


def check(language: str) -> list[str]:
    """What is out of date for ``language``: a line per problem."""
    problems = []
    ts, qm = ts_file(language), qm_file(language)
    if not ts.is_file():
        return [f"{ts} is missing: run python packaging/i18n.py"]
    with tempfile.TemporaryDirectory() as tmp:
        fresh_ts = Path(tmp) / ts.name
        shutil.copyfile(ts, fresh_ts)
        lupdate(fresh_ts, language)
        for context, source in unfinished(fresh_ts):
            problems.append(f"{ts.name}: not translated: {context}: {source!r}")
        if fresh_ts.read_bytes() != ts.read_bytes():
            problems.append(
                f"{ts.name} differs from the sources' strings: run python packaging/i18n.py"
            )
        fresh_qm = Path(tmp) / qm.name
        lrelease(ts, fresh_qm)
        if not qm.is_file() or fresh_qm.read_bytes() != qm.read_bytes():
            problems.append(f"{qm.name} is not built from {ts.name}: run python packaging/i18n.py")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when out of date"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = [line for language in LANGUAGES for line in check(language)]
        for line in problems:
            print(line)
        return 1 if problems else 0
    I18N.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        ts, qm = ts_file(language), qm_file(language)
        lupdate(ts, language)
        lrelease(ts, qm)
        todo = unfinished(ts)
        total = len([m for m in messages(ts) if m[3] in ("", "unfinished")])
        print(f"{ts.relative_to(ROOT)}: {total} strings, {len(todo)} to translate; built {qm.name}")
        for context, source in todo:
            print(f"  {context}: {source!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
