"""docs/api.md's examples, run against a live ``llmos serve``.

Every fenced ``bash`` (curl), ``python`` and ``javascript`` block of the document runs,
with the document's placeholder base URL, key and model replaced by the live server's.
A curl example must answer JSON without an error, unless an ``<!-- expect: error CODE
-->`` line before it says which error it shows; a Python or JavaScript example must
exit 0 and print something. The quick start must be exactly what the Developer page
shows (``core/engine/snippets.py``).

JavaScript runs with node and the ``openai`` npm package, installed by ``npm ci`` from
tests/js/package-lock.json into a cache folder (not the repository); without node or
npm those examples are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos_desktop.core.engine.snippets import FENCE, snippets

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
JS_PACKAGE = ROOT / "tests" / "js"
DOC_BASE = "http://127.0.0.1:1234/v1"
DOC_KEY = "YOUR-API-KEY-0123456789"
DOC_MODEL = "gemma-3-270m"
LIVE_KEY = "live-docs-key-0123456789"
_BLOCK = re.compile(
    r"(?:<!-- expect: (?P<expect>[^>]*?) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S
)


def blocks(text: str) -> list[tuple[str, str, str | None]]:
    return [
        (m["lang"], m["code"], m["expect"])
        for m in _BLOCK.finditer(text)
        if m["lang"] in ("bash", "python", "javascript")
    ]


def test_quick_start_is_the_developer_pages_snippets() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind, code in snippets(DOC_BASE, DOC_KEY, DOC_MODEL).items():
        assert f"```{FENCE[kind]}\n{code}```" in text, kind


def test_snippets_quote_hostile_values(tmp_path: Path) -> None:
    """A model id or key with quotes cannot break out of the example's strings."""
    model = 'it\'s "quoted" $(touch pwned) `x`'
    made = snippets(DOC_BASE, "k'ey\"$(id)-0123456789", model)
    script = made["python"].replace("from openai import OpenAI", "OpenAI = dict")
    compiled = compile(made["python"], "snippet", "exec")
    assert compiled is not None and script
    # bash parses the curl command into exactly the words meant.
    words = subprocess.run(
        ["bash", "-c", 'printf "%s\\n" ' + made["curl"].split(" ", 1)[1].replace("\\\n", " ")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    assert not (tmp_path / "pwned").exists()
    assert "Authorization: Bearer k'ey\"$(id)-0123456789" in words
    assert json.loads(words.splitlines()[-1])["model"] == model


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    command = [
        sys.executable, "-m", "llmos_desktop.cli", "serve", "--model", str(model_path),
        "--port", "0", "--api-key", LIVE_KEY, "--threads", "2", "--ctx", "2048",
    ]  # fmt: skip
    # stderr to a file: a pipe nobody reads would fill and stop the server.
    errors = tmp_path_factory.mktemp("serve") / "stderr.txt"
    err = errors.open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Serving"):
                url = line.split(" at ", 1)[1].strip()
                break
        assert url, errors.read_text()
        yield url.rstrip("/")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        err.close()


def live(code: str, base: str) -> str:
    return code.replace(DOC_BASE, base).replace(DOC_KEY, LIVE_KEY)


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run docs/api.md's JavaScript examples")
    cache = Path(os.environ.get("LLMOS_TEST_NPM_CACHE", Path.home() / ".cache" / "llmos-tests"))
    folder = cache / "js"
    lock = (JS_PACKAGE / "package-lock.json").read_bytes()
    if not (folder / "node_modules" / "openai").is_dir() or (
        (folder / "package-lock.json").read_bytes() != lock
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(JS_PACKAGE / name, folder / name)
        result = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.skip(f"npm ci failed (no registry?): {result.stderr.strip()[-300:]}")
    return folder


@pytest.mark.model
@pytest.mark.timeout(1800)  # a dozen replies on two shared cores
def test_every_example_runs(
    server: str, node_modules: Path, tmp_path: Path, model_path: Path
) -> None:
    examples = blocks(DOC.read_text(encoding="utf-8"))
    kinds = {lang for lang, _, _ in examples}
    assert kinds == {"bash", "python", "javascript"} and len(examples) >= 10
    for number, (lang, code, expect) in enumerate(examples):
        code = live(code, server)
        where = f"example {number} ({lang}):\n{code}"
        if lang == "bash":
            assert code.lstrip().startswith("curl "), where
            result = subprocess.run(
                ["bash", "-c", code.replace("curl ", "curl -sS ", 1)],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert result.returncode == 0, (where, result.stderr)
            answer = json.loads(result.stdout)
            if expect:
                assert expect.startswith("error "), where
                assert answer["error"]["code"] == expect.split()[1], (where, answer)
            else:
                assert "error" not in answer, (where, answer)
            continue
        if lang == "python":
            script = tmp_path / f"example{number}.py"
            script.write_text(code, encoding="utf-8")
            command = [sys.executable, str(script)]
        else:
            script = node_modules / f"example{number}.mjs"
            script.write_text(code, encoding="utf-8")
            command = [shutil.which("node") or "node", str(script)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (where, result.stderr[-2000:])
        assert result.stdout.strip(), (where, "printed nothing")
