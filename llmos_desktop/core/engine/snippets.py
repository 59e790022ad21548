"""Example code for the engine's API: curl, Python (``openai``) and JavaScript (``openai``).

Written once, here, for the two places that show it: the Developer page (with the
live base URL, key and model, behind copy buttons) and docs/api.md's quick start
(with placeholders; tests/integration/test_api_docs.py checks the document holds
exactly these texts and runs them against a live server). So the code a developer
copies is code a test has run.

The values are untrusted text (a model id comes from a file name, a key from the
user): each is written as a quoted literal of its language, never spliced in raw.
"""

from __future__ import annotations

import json

PROMPT = "Say hello in five words."
MAX_TOKENS = 64  # a bound a reader sees and may change
# The openai clients refuse an empty key; a server without one ignores whatever is sent.
NO_KEY = "not-needed"
# The fence language of each snippet in Markdown (docs/api.md).
FENCE = {"curl": "bash", "python": "python", "javascript": "javascript"}


def _shell(text: str) -> str:
    """``text`` as one single-quoted shell word (a quote inside is closed and escaped)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _literal(text: str) -> str:
    """A string literal valid in both Python and JavaScript (JSON's escapes are both's)."""
    return json.dumps(text, ensure_ascii=False)


def curl(base: str, api_key: str | None, model: str) -> str:
    body = json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": MAX_TOKENS,
        },
        ensure_ascii=False,
    )
    lines = [
        f"curl {_shell(base.rstrip('/') + '/chat/completions')} \\",
        "  -H 'Content-Type: application/json' \\",
    ]
    if api_key:
        lines.append(f"  -H {_shell('Authorization: Bearer ' + api_key)} \\")
    lines.append(f"  -d {_shell(body)}")
    return "\n".join(lines) + "\n"


def python(base: str, api_key: str | None, model: str) -> str:
    return (
        "from openai import OpenAI\n"
        "\n"
        f"client = OpenAI(base_url={_literal(base)}, api_key={_literal(api_key or NO_KEY)})\n"
        "reply = client.chat.completions.create(\n"
        f"    model={_literal(model)},\n"
        f'    messages=[{{"role": "user", "content": {_literal(PROMPT)}}}],\n'
        f"    max_tokens={MAX_TOKENS},\n"
        ")\n"
        "print(reply.choices[0].message.content)\n"
    )


def javascript(base: str, api_key: str | None, model: str) -> str:
    return (
        "// save as hello.mjs; npm install openai; node hello.mjs\n"
        'import OpenAI from "openai";\n'
        "\n"
        "const client = new OpenAI({\n"
        f"  baseURL: {_literal(base)},\n"
        f"  apiKey: {_literal(api_key or NO_KEY)},\n"
        "});\n"
        "const reply = await client.chat.completions.create({\n"
        f"  model: {_literal(model)},\n"
        f'  messages: [{{ role: "user", content: {_literal(PROMPT)} }}],\n'
        f"  max_tokens: {MAX_TOKENS},\n"
        "});\n"
        "console.log(reply.choices[0].message.content);\n"
    )


def snippets(base: str, api_key: str | None, model: str) -> dict[str, str]:
    """The three examples for a server at ``base`` (its OpenAI base URL, ending in /v1),
    called with ``api_key`` (None: the server takes none) and ``model`` (a model id).

    Keys: "curl", "python", "javascript" (``FENCE`` maps them to Markdown fences).
    """
    return {
        "curl": curl(base, api_key, model),
        "python": python(base, api_key, model),
        "javascript": javascript(base, api_key, model),
    }
