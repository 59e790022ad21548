"""naming.py: what a GGUF file name says (quantization, shard, projector).

The names are the ones real repositories use (bartowski, unsloth, TheBloke, ggml-org,
lmstudio-community), so the Hub browser groups and labels them as a user expects.
"""

from __future__ import annotations

import pytest

from llmos_desktop.core.models.naming import SplitName, is_mmproj, model_stem, quant_of, split_of

# Every quantization name llama.cpp's quantize tool (and the common re-packagers) write.
KNOWN = {
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S",
    "IQ3_M", "IQ4_XS", "IQ4_NL", "TQ1_0", "TQ2_0", "Q2_K_S", "Q2_K_L", "Q2_K_XL", "Q2_K",
    "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q3_K_XL", "Q3_K", "Q4_K_S", "Q4_K_M", "Q4_K_L",
    "Q4_K_XL", "Q4_K", "Q5_K_S", "Q5_K_M", "Q5_K_L", "Q5_K_XL", "Q5_K", "Q6_K_L", "Q6_K_XL",
    "Q6_K", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
    "Q8_K_XL", "MXFP4", "BF16", "F16", "F32",
}  # fmt: skip


@pytest.mark.parametrize(
    ("filename", "quant"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),  # bartowski
        ("llama-2-7b-chat.Q4_K_M.gguf", "Q4_K_M"),  # TheBloke
        ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),  # Qwen: lower case
        ("Qwen3-8B-Q4_K_S.gguf", "Q4_K_S"),
        ("gemma-3-4b-it-Q4_K_L.gguf", "Q4_K_L"),  # not Q4_K
        ("model-Q4_K.gguf", "Q4_K"),
        ("Meta-Llama-3.1-8B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),  # not IQ2_XS
        ("Meta-Llama-3.1-8B-Instruct-IQ2_XS.gguf", "IQ2_XS"),
        ("Mistral-7B-Instruct-v0.3-IQ3_M.gguf", "IQ3_M"),
        ("Phi-3.5-mini-instruct-IQ4_NL.gguf", "IQ4_NL"),
        ("Phi-3.5-mini-instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("Qwen3-30B-A3B-UD-IQ1_M.gguf", "IQ1_M"),  # unsloth dynamic
        ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
        ("Qwen3-30B-A3B-UD-Q8_K_XL.gguf", "Q8_K_XL"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("tinyllama.Q5_0.gguf", "Q5_0"),
        ("gemma-2-2b-it-Q4_0_4_4.gguf", "Q4_0_4_4"),  # not Q4_0
        ("model-Q4_0.gguf", "Q4_0"),
        ("BitNet-b1.58-2B-4T-TQ1_0.gguf", "TQ1_0"),
        ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
        ("Llama-3.2-1B-Instruct-f16.gguf", "F16"),
        ("Llama-3.2-1B-Instruct-BF16.gguf", "BF16"),  # not F16
        ("model-fp16.gguf", "F16"),  # FP16 is F16
        ("model-FP32.gguf", "F32"),
        ("model-Q8_0-00001-of-00002.gguf", "Q8_0"),  # the shard part is not in the way
        ("Q6_K/model-Q6_K-00002-of-00003.gguf", "Q6_K"),  # a folder per quantization
        ("Q4_K_M.gguf", "Q4_K_M"),  # the name is only the quantization
        ("model-Q8_0-from-Q4_K_M.gguf", "Q4_K_M"),  # the last one wins
    ],
)
def test_quant_of_reads_every_quantization_kind(filename: str, quant: str) -> None:
    assert quant_of(filename) == quant


@pytest.mark.parametrize(
    "filename",
    [
        "model.gguf",
        "ggml-model.gguf",
        "model-Q9_0.gguf",  # no such quantization
        "model-XQ4_K_M.gguf",  # not a whole word
        "modelQ4_K_M.gguf",  # no separator before it
        "mmproj-model.gguf",
        "README.md",
        "",
    ],
)
def test_quant_of_is_none_when_the_name_does_not_say(filename: str) -> None:
    assert quant_of(filename) is None


def test_quant_of_reads_unsloth_q2_k_xl() -> None:
    assert quant_of("DeepSeek-R1-UD-Q2_K_XL-00001-of-00005.gguf") == "Q2_K_XL"


def test_quant_of_gives_only_known_ascii_names_for_hostile_names() -> None:
    for name in ("x-Q4_\u212a_M.gguf", "x-\u0131q2_xs.gguf", "x-Q4_K_M\u202e.gguf"):
        quant = quant_of(name)
        assert quant is None or quant in KNOWN, ascii(quant)


def test_quant_of_gives_known_names_only() -> None:
    names = [f"model-{q}.gguf" for q in KNOWN] + [f"m.{q.lower()}.gguf" for q in KNOWN]
    assert {quant_of(n) for n in names} <= KNOWN


@pytest.mark.parametrize(
    ("filename", "split"),
    [
        ("Llama-3.1-70B-Q4_K_M-00001-of-00002.gguf", SplitName("Llama-3.1-70B-Q4_K_M", 1, 2)),
        ("Q4_K_M/big-Q4_K_M-00002-of-00002.gguf", SplitName("big-Q4_K_M", 2, 2)),
        ("model-00003-OF-00003.GGUF", SplitName("model", 3, 3)),
    ],
)
def test_split_of_reads_gguf_split_names(filename: str, split: SplitName) -> None:
    assert split_of(filename) == split


@pytest.mark.parametrize(
    "filename",
    [
        "model.gguf",
        "model-00000-of-00002.gguf",  # index 0
        "model-00003-of-00002.gguf",  # index above the count
        "model-0001-of-0002.gguf",  # gguf-split always writes five digits
        "model-00001-of-00002.gguf.part",  # a partial download is not a shard
        "model-00001-of-00002.safetensors",
        "-00001-of-00002.gguf",  # no stem
    ],
)
def test_split_of_is_none_for_whole_files_and_impossible_shards(filename: str) -> None:
    assert split_of(filename) is None


def test_split_of_takes_only_ascii_digits() -> None:
    arabic = "\u0660\u0660\u0660\u0660\u0661-of-\u0660\u0660\u0660\u0660\u0662"
    assert split_of(f"model-{arabic}.gguf") is None


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Llama-3.2-1B-Instruct-Q4_K_M"),
        ("a/b/model-Q8_0-00002-of-00004.gguf", "model-Q8_0"),
        ("MODEL.GGUF", "MODEL"),
        ("notes.txt", "notes.txt"),
        ("model.gguf.gguf", "model.gguf"),
    ],
)
def test_model_stem_drops_folders_extension_and_shard(filename: str, stem: str) -> None:
    assert model_stem(filename) == stem


def test_shards_of_one_model_share_a_stem_and_the_quantization() -> None:
    names = [f"Q4_K_M/Qwen3-235B-A22B-Q4_K_M-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert {model_stem(n) for n in names} == {"Qwen3-235B-A22B-Q4_K_M"}
    assert {quant_of(n) for n in names} == {"Q4_K_M"}
    assert [s.index for n in names if (s := split_of(n))] == [1, 2, 3]


@pytest.mark.parametrize(
    ("filename", "projector"),
    [
        ("mmproj-model-f16.gguf", True),
        ("mmproj-Qwen2.5-VL-7B-Instruct-f16.gguf", True),
        ("gemma-3-4b-it-mmproj-BF16.gguf", True),
        ("llava-v1.6-mistral-7b.mmproj-Q8_0.gguf", True),
        ("MMPROJ.gguf", True),
        ("mmproj_f16.gguf", True),
        ("gemma-3-4b-it-Q4_K_M.gguf", False),
        ("mmprojector-model.gguf", False),  # not the word
        ("mymmproj.gguf", False),
        ("mmproj/model-Q4_K_M.gguf", False),  # the folder's name is not the file's
    ],
)
def test_is_mmproj_finds_vision_projectors(filename: str, projector: bool) -> None:
    assert is_mmproj(filename) is projector


def test_projector_keeps_its_quantization() -> None:
    assert quant_of("mmproj-model-f16.gguf") == "F16"
    assert quant_of("llava-v1.6-mistral-7b.mmproj-Q8_0.gguf") == "Q8_0"
