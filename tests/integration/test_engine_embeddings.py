"""``/v1/embeddings`` on the real engine, judged by the official ``openai`` client.

Gemma 3 270M (a decoder model with no pooling of its own: mean pooling) makes vectors
of its own size (640), L2-normalised; the same input gives the same vector, alone or
in a list; a reranker (a model whose GGUF says its pooling is "rank") gets a clear 400.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from tests.helpers.engine import load_model, start_engine_with_model

pytestmark = pytest.mark.model

GEMMA_DIMENSIONS = 640  # gemma3.embedding_length of the test model


@pytest.fixture(scope="module")
def engine(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EngineSupervisor, EngineEndpoint]]:
    log = tmp_path_factory.mktemp("embeddings") / "engine.log"
    supervisor, endpoint = start_engine_with_model(model_path, log)
    try:
        yield supervisor, endpoint
    finally:
        supervisor.stop()


@pytest.fixture
def client(engine: tuple[EngineSupervisor, EngineEndpoint]) -> openai.OpenAI:
    endpoint = engine[1]
    return openai.OpenAI(base_url=endpoint.base_url + "/v1", api_key=endpoint.token, max_retries=0)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


def test_vectors_of_the_models_size_identical_for_identical_input(client: openai.OpenAI) -> None:
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Stock prices fell."]
    result = client.embeddings.create(model="any", input=texts)
    assert [item.index for item in result.data] == [0, 1, 2]
    vectors = [item.embedding for item in result.data]
    for vector in vectors:
        assert len(vector) == GEMMA_DIMENSIONS
        assert norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert result.usage.prompt_tokens == result.usage.total_tokens > 3 * 3
    # The same text alone: the same vector (no dependence on the batch it came in).
    again = client.embeddings.create(model="any", input=texts[0]).data[0].embedding
    assert again == pytest.approx(vectors[0], abs=1e-6)
    # Different texts differ; each text is closest to itself.
    assert cosine(vectors[0], vectors[2]) < 0.9999
    assert cosine(vectors[0], vectors[0]) == pytest.approx(1.0)


def test_token_ids_and_base64(client: openai.OpenAI, engine: tuple[object, EngineEndpoint]) -> None:
    text = client.embeddings.create(model="m", input="hello world").data[0].embedding
    # The openai client itself asks for base64 and decodes it; ask raw to see the bytes.
    endpoint = engine[1]
    raw = httpx.post(
        endpoint.base_url + "/v1/embeddings",
        json={"input": "hello world", "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=60,
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    decoded = list(struct.unpack(f"<{len(packed) // 4}f", packed))
    assert decoded == pytest.approx(text, abs=1e-6)
    # Token ids: one list, and a list of lists.
    ids = client.embeddings.create(model="m", input=[2, 17534, 1902]).data[0].embedding
    assert len(ids) == GEMMA_DIMENSIONS
    two = client.embeddings.create(model="m", input=[[2, 17534], [2, 1902]])
    assert len(two.data) == 2


def test_refusals_are_clear_400s(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input="hello", dimensions=256)
    assert "640 dimensions" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="m", input="")
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input=[[2, 10_000_000]])
    assert "outside the vocabulary" in str(caught.value)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input=["x"] * 2049)
    assert "2048" in str(caught.value)
    # Longer than the engine embeds per input (the test context: 4096 tokens).
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="m", input=[list(range(10, 5000))])
    assert caught.value.code == "context_length_exceeded"
    assert "at most 4096 tokens" in str(caught.value)


def _with_uint32(src: Path, dst: Path, key: str, value: int) -> Path:
    """``src`` with one more uint32 key, plus a padding string key so every later offset
    keeps the file's 32-byte alignment (as tests/helpers/model_factory does for strings)."""
    import shutil

    k = key.encode()
    entry = struct.pack("<Q", len(k)) + k + struct.pack("<I", 4) + struct.pack("<I", value)
    pad_key = b"llmos.test.padding"
    head = struct.pack("<Q", len(pad_key)) + pad_key + struct.pack("<I", 8)
    size = len(entry) + len(head) + 8
    pad = b" " * ((-size) % 32)
    padding = head + struct.pack("<Q", len(pad)) + pad
    with src.open("rb") as raw, dst.open("wb") as out:
        header = bytearray(raw.read(24))
        n_kv = struct.unpack_from("<Q", header, 16)[0]
        struct.pack_into("<Q", header, 16, n_kv + 2)
        out.write(bytes(header) + entry + padding)
        shutil.copyfileobj(raw, out, 1024 * 1024)
    return dst


def test_a_reranker_cannot_embed(
    model_path: Path, tmp_path: Path, engine: tuple[EngineSupervisor, EngineEndpoint]
) -> None:
    """A model whose GGUF declares rank pooling (a reranker) is refused with a 400 that
    says why; the engine keeps serving."""
    _, endpoint = engine
    reranker = _with_uint32(model_path, tmp_path / "reranker.gguf", "gemma3.pooling_type", 4)
    load_model(endpoint, reranker)
    client = openai.OpenAI(base_url=endpoint.base_url + "/v1", api_key=endpoint.token)
    try:
        with pytest.raises(openai.BadRequestError) as caught:
            client.embeddings.create(model="m", input="hello")
        assert caught.value.code == "invalid_value"
        assert "reranker" in str(caught.value)
        # Generation still works on it.
        reply = client.completions.create(model="m", prompt="Hi", max_tokens=2)
        assert reply.usage is not None
    finally:
        load_model(endpoint, model_path)
    assert len(client.embeddings.create(model="m", input="hello").data[0].embedding) == 640


def test_no_model_is_409(engine: tuple[EngineSupervisor, EngineEndpoint], model_path: Path) -> None:
    _, endpoint = engine
    headers = {"Authorization": f"Bearer {endpoint.token}"}
    httpx.post(endpoint.base_url + "/control/unload", headers=headers, timeout=30)
    try:
        response = httpx.post(
            endpoint.base_url + "/v1/embeddings", json={"input": "x"}, headers=headers
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "model_not_loaded"
    finally:
        load_model(endpoint, model_path)
