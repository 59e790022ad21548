"""The local model library on real files: small GGUFs written with the ``gguf`` package,
the real bounded reader, a real registry file.

What a user checks: every model in the folder is a row with what its header says; a
split model is one row and says which part is missing; a half-copied or half-downloaded
file is never a row; a damaged file is a row with a reason; imports copy or use in
place; delete removes every shard of a folder model and never the user's own file; the
registry keeps defaults, sources and last use, and a damaged registry is kept aside.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmos_desktop.core.models import library as library_module
from llmos_desktop.core.models.library import IMPORTED_FOLDER, ModelLibrary, target_for
from llmos_desktop.core.models.types import LocalModel, ModelDefaults, ModelsError
from tests.helpers.gguf_factory import truncate_copy, write_gguf


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "data" / "models.json"


def _library(folder: Path, registry: Path, **kwargs: object) -> ModelLibrary:
    return ModelLibrary(folder, registry, **kwargs)  # type: ignore[arg-type]


def _model(path: Path, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, **kwargs)  # type: ignore[arg-type]


def _by_name(models: list[LocalModel]) -> dict[str, LocalModel]:
    return {m.name: m for m in models}


def _shards(folder: Path, stem: str, count: int) -> list[Path]:
    return [
        _model(folder / f"{stem}-{i:05d}-of-{count:05d}.gguf", name=f"{stem} part {i}")
        for i in range(1, count + 1)
    ]


def test_scan_lists_every_gguf_with_what_its_header_says(folder: Path, registry: Path) -> None:
    _model(
        folder / "owner" / "repo" / "Tiny-Chat-Q8_0.gguf",
        chat_template="{{ messages }}",
        context_length=2048,
        extra_kv={"general.size_label": "135M"},
    )
    _model(folder / "base.gguf", architecture="qwen2", context_length=512)
    (folder / "notes.txt").write_text("not a model")

    models = _by_name(_library(folder, registry).scan())

    assert set(models) == {"Tiny-Chat-Q8_0", "base"}
    chat = models["Tiny-Chat-Q8_0"]
    assert chat.path == folder / "owner" / "repo" / "Tiny-Chat-Q8_0.gguf"
    assert chat.id == str(chat.path)
    assert chat.files == (chat.path,)
    assert chat.size == chat.path.stat().st_size
    assert chat.architecture == "llama"
    assert chat.parameters == 135_000_000
    # The header's file type (F32, as the factory writes) wins over the name's "Q8_0".
    assert chat.quant == "F32"
    assert chat.context_length == 2048
    assert chat.has_chat_template is True
    assert chat.is_mmproj is False
    assert chat.in_place is False
    assert chat.error is None
    assert chat.defaults == ModelDefaults()
    base = models["base"]
    assert base.architecture == "qwen2"
    assert base.parameters is None  # no size label
    assert base.has_chat_template is False
    assert base.context_length == 512


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("135M", 135_000_000),
        ("1.5B", 1_500_000_000),
        ("8x7B", 56_000_000_000),
        ("30B-A3B", 30_000_000_000),
        ("270m", 270_000_000),
        ("large", None),
        ("", None),
    ],
)
def test_parameter_count_from_the_size_label(label: str, expected: int | None) -> None:
    assert library_module._parameters(label) == expected


def test_partial_hidden_and_unverified_files_are_never_listed(folder: Path, registry: Path) -> None:
    whole = _model(folder / "done.gguf")
    # What a download or a copy leaves while it runs (downloads.py, import_file).
    shutil.copyfile(whole, folder / "coming.gguf.part")
    shutil.copyfile(whole, folder / ".done2.gguf.importing.part")
    shutil.copyfile(whole, folder / ".hidden.gguf")
    (folder / ".downloads").mkdir()
    shutil.copyfile(whole, folder / ".downloads" / "state.gguf")

    models = _library(folder, registry).scan()

    assert [m.name for m in models] == ["done"]


def test_a_file_the_reader_refuses_is_a_row_with_its_reason(folder: Path, registry: Path) -> None:
    whole = _model(folder / "whole.gguf", tensors=3)
    truncate_copy(whole, folder / "cut-Q4_K_M.gguf", whole.stat().st_size - 16)
    (folder / "page.gguf").write_bytes(b"<!doctype html><html>404</html>")

    models = _by_name(_library(folder, registry).scan())

    cut = models["cut-Q4_K_M"]
    assert cut.error is not None
    assert "cut-Q4_K_M.gguf is an incomplete download" in cut.error
    assert cut.quant == "Q4_K_M"  # from the name, the header being unreadable
    assert cut.architecture is None
    page = models["page"]
    assert (
        page.error
        == "page.gguf is not a GGUF model file (it looks like a web page; the download may have failed)"
    )
    assert models["whole"].error is None


def test_split_model_is_one_row(folder: Path, registry: Path) -> None:
    shards = _shards(folder / "big", "Big-Q4_K_M", 3)

    models = _library(folder, registry).scan()

    assert len(models) == 1
    model = models[0]
    assert model.name == "Big-Q4_K_M"
    assert model.path == shards[0]
    assert model.id == str(shards[0])
    assert model.files == tuple(shards)
    assert model.size == sum(s.stat().st_size for s in shards)
    assert model.error is None


def test_split_model_with_missing_shards_says_which(folder: Path, registry: Path) -> None:
    shards = _shards(folder, "Big-Q4_K_M", 4)
    shards[1].unlink()
    shards[3].unlink()

    (model,) = _library(folder, registry).scan()

    assert model.files == (shards[0], shards[2])
    assert model.error == (
        "Big-Q4_K_M: 2 of its 4 parts missing (parts 2, 4); download or copy the rest"
    )

    shards[0].unlink()
    (model,) = _library(folder, registry).scan()
    assert model.path == shards[0]  # where the first part belongs, so the row can say so
    assert model.error is not None
    assert "3 of its 4 parts missing (parts 1, 2, 4)" in model.error


def test_vision_projectors_are_marked(folder: Path, registry: Path) -> None:
    _model(folder / "projector.gguf", architecture="clip")
    _model(folder / "mmproj-model-f16.gguf")
    _model(folder / "chat.gguf")

    models = _by_name(_library(folder, registry).scan())

    assert models["projector"].is_mmproj is True
    assert models["mmproj-model-f16"].is_mmproj is True
    assert models["chat"].is_mmproj is False


def test_rescan_reads_headers_only_for_changed_files(
    folder: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        _model(folder / f"m{i}.gguf")
    reads: list[Path] = []
    real = library_module._read_meta

    def counting(path: Path) -> object:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(library_module, "_read_meta", counting)
    cache = tmp_path / "cache" / "models-metadata.json"
    library = _library(folder, registry, cache_file=cache)

    library.scan()
    assert len(reads) == 5
    library.scan()
    assert len(reads) == 5  # nothing changed: no header read

    changed = _model(folder / "m2.gguf", context_length=1024)  # size and mtime change
    os.utime(changed, ns=(1, 1))
    models = _by_name(library.scan())
    assert reads[5:] == [changed]
    assert models["m2"].context_length == 1024

    # A new process (llmos models list) reuses the cache file.
    reads.clear()
    again = _by_name(_library(folder, registry, cache_file=cache).scan())
    assert reads == []
    assert again["m2"].context_length == 1024

    # A damaged cache is only a cache: the headers are read again.
    cache.write_text("{ not json")
    assert len(_library(folder, registry, cache_file=cache).scan()) == 5
    assert len(reads) == 5


def test_import_copy_puts_a_whole_copy_in_the_folder(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    source = _model(tmp_path / "downloads" / "Mine-Q5_K_M.gguf", chat_template="x")
    before = source.read_bytes()
    seen: list[tuple[int, int]] = []
    library = _library(folder, registry)

    model = library.import_file(source, copy=True, progress=lambda d, t: seen.append((d, t)))

    assert model.path == folder / IMPORTED_FOLDER / "Mine-Q5_K_M.gguf"
    assert model.path.read_bytes() == before
    assert source.read_bytes() == before
    assert model.in_place is False
    assert model.has_chat_template is True
    assert seen[-1] == (len(before), len(before))
    assert sorted(p.name for p in (folder / IMPORTED_FOLDER).iterdir()) == ["Mine-Q5_K_M.gguf"]
    assert [m.id for m in library.scan()] == [model.id]

    with pytest.raises(ModelsError) as caught:
        library.import_file(source, copy=True)
    assert caught.value.kind == "invalid"
    assert "already in the library" in str(caught.value)


def test_import_copies_every_shard_of_a_split_model(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    shards = _shards(tmp_path / "elsewhere", "Split-Q8_0", 2)
    library = _library(folder, registry)

    model = library.import_file(shards[1], copy=True)  # any shard names the model

    assert [p.name for p in model.files] == [s.name for s in shards]
    assert all(p.parent == folder / IMPORTED_FOLDER for p in model.files)
    assert model.error is None


def test_import_refuses_what_is_not_a_model_before_copying(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    page = tmp_path / "model.gguf"
    page.write_text("<html>Sign in to download</html>")
    whole = _model(tmp_path / "whole.gguf", tensors=3)
    cut = truncate_copy(whole, tmp_path / "cut.gguf", whole.stat().st_size // 2)
    text = tmp_path / "weights.bin"
    text.write_bytes(whole.read_bytes())
    part = _shards(tmp_path / "split", "S", 2)[0]
    (tmp_path / "split" / "S-00002-of-00002.gguf").unlink()
    library = _library(folder, registry)

    cases = {
        page: "model.gguf is not a GGUF model file (it looks like a web page",
        cut: "cut.gguf is an incomplete download",
        text: "weights.bin is not a .gguf model file",
        part: "S: 1 of its 2 parts missing (part 2)",
        tmp_path / "absent.gguf": "absent.gguf",
    }
    for path, message in cases.items():
        for copy in (True, False):
            with pytest.raises(ModelsError) as caught:
                library.import_file(path, copy=copy)
            assert caught.value.kind == "invalid"
            assert message in str(caught.value)
    assert list(folder.rglob("*")) == []
    assert library.scan() == []
    assert not registry.exists()


def test_an_interrupted_copy_leaves_nothing(folder: Path, registry: Path, tmp_path: Path) -> None:
    source = _model(tmp_path / "m.gguf")
    library = _library(folder, registry)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        library.import_file(source, copy=True, progress=stop)

    assert [p.name for p in (folder / IMPORTED_FOLDER).iterdir()] == []
    assert library.scan() == []


def test_import_copy_checks_free_space_first(
    folder: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mock: no small filesystem can be mounted here for a test (H3's tests fill a real one).
    source = _model(tmp_path / "m.gguf")
    real = shutil.disk_usage

    def tiny(path: object) -> object:
        usage = real(path)  # type: ignore[arg-type]
        return type(usage)(usage.total, usage.total - 1000, 1000)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    library = _library(folder, registry)

    with pytest.raises(ModelsError) as caught:
        library.import_file(source, copy=True)

    assert caught.value.kind == "disk_full"
    assert "not enough free disk space" in str(caught.value)
    assert library.scan() == []


def test_in_place_import_is_listed_and_rm_keeps_the_users_file(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    source = _model(tmp_path / "mine" / "Own-Q4_0.gguf", context_length=4096)
    before = source.read_bytes()
    library = _library(folder, registry)

    model = library.import_file(source, copy=False)

    assert model.in_place is True
    assert model.path == source.resolve()
    assert list(folder.rglob("*.gguf")) == []
    # Another process (another library on the same registry) sees it too.
    (listed,) = _library(folder, registry).scan()
    assert listed.id == model.id
    assert listed.context_length == 4096

    library.remove(model.id)

    assert source.read_bytes() == before
    assert library.scan() == []
    assert _library(folder, registry).scan() == []


def test_an_in_place_model_that_went_away_says_so(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    source = _model(tmp_path / "usb" / "gone.gguf")
    library = _library(folder, registry)
    library.import_file(source, copy=False)
    source.unlink()

    (model,) = library.scan()

    assert model.error == "gone.gguf is not there any more (moved or deleted)"
    library.remove(model.id)
    assert library.scan() == []


def test_in_place_import_of_a_file_in_the_folder_is_the_folder_row(
    folder: Path, registry: Path
) -> None:
    inside = _model(folder / "a.gguf")
    library = _library(folder, registry)

    model = library.import_file(inside, copy=False)

    assert model.in_place is False
    assert [m.id for m in library.scan()] == [str(inside)]


def test_remove_deletes_every_shard_and_the_empty_folders(folder: Path, registry: Path) -> None:
    shards = _shards(folder / "owner" / "repo", "Big-Q4_K_M", 3)
    keep = _model(folder / "owner" / "other" / "keep.gguf")
    library = _library(folder, registry)
    model = library.find("Big-Q4_K_M")
    library.record_source(model.path, "owner/repo", "abc")

    library.remove(model.id)

    assert not any(s.exists() for s in shards)
    assert not (folder / "owner" / "repo").exists()
    assert keep.exists()
    assert folder.is_dir()
    assert [m.name for m in library.scan()] == ["keep"]
    assert str(shards[0]) not in json.loads(registry.read_text())["models"]


def test_remove_of_a_symlink_in_the_folder_keeps_its_target(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    target = _model(tmp_path / "outside" / "real.gguf")
    link = folder / "link.gguf"
    link.symlink_to(target)
    library = _library(folder, registry)

    (model,) = library.scan()
    assert model.path == link
    library.remove(model.id)

    assert not link.exists()
    assert target.exists()


def test_remove_of_an_unknown_model(folder: Path, registry: Path) -> None:
    with pytest.raises(ModelsError) as caught:
        _library(folder, registry).remove(str(folder / "nothing.gguf"))
    assert caught.value.kind == "not_found"


def test_the_starter_is_listed_read_only(folder: Path, registry: Path, tmp_path: Path) -> None:
    starter = _model(
        tmp_path / "install" / "SmolLM2-135M-Instruct.Q4_1.gguf", chat_template="{{ x }}"
    )
    _model(folder / "other.gguf")
    library = _library(folder, registry, starter=starter)

    models = _by_name(library.scan())

    row = models["SmolLM2-135M-Instruct.Q4_1"]
    assert row.in_place is True
    assert row.has_chat_template is True
    assert library.is_read_only(row)
    assert not library.is_read_only(models["other"])
    with pytest.raises(ModelsError) as caught:
        library.remove(row.id)
    assert caught.value.kind == "invalid"
    assert "cannot be deleted" in str(caught.value)
    assert starter.exists()
    # Its defaults and last use are kept like any other model's.
    library.mark_used(row.id)
    assert library.find(row.name).last_used is not None


def test_find_by_name_file_name_or_path(folder: Path, registry: Path, tmp_path: Path) -> None:
    a = _model(folder / "x" / "Alpha-Q4_K_M.gguf")
    shards = _shards(folder / "y", "Beta", 2)
    library = _library(folder, registry)

    assert library.find("Alpha-Q4_K_M").path == a
    assert library.find("alpha-q4_k_m").path == a
    assert library.find("Alpha-Q4_K_M.gguf").path == a
    assert library.find(str(a)).path == a
    assert library.find("Beta").path == shards[0]
    assert library.find(str(shards[1])).path == shards[0]  # any shard names the model

    _model(tmp_path / "z" / "Alpha-Q4_K_M.gguf")
    library.import_file(tmp_path / "z" / "Alpha-Q4_K_M.gguf", copy=False)
    with pytest.raises(ModelsError) as ambiguous:
        library.find("Alpha-Q4_K_M")
    assert ambiguous.value.kind == "invalid"
    assert "give the path" in str(ambiguous.value)
    with pytest.raises(ModelsError) as missing:
        library.find("Gamma")
    assert missing.value.kind == "not_found"
    assert str(missing.value) == "no model named Gamma ('llmos models list' shows them)"


def test_defaults_sources_and_last_use_are_kept(folder: Path, registry: Path) -> None:
    path = _model(folder / "owner" / "repo" / "m.gguf")
    library = _library(folder, registry)
    defaults = ModelDefaults(n_ctx=8192, n_gpu_layers=10, n_threads=2, chat_template="chatml")
    before = datetime.now(UTC)

    library.set_defaults(str(path), defaults)
    library.record_source(path, "owner/repo", "0123abcd")
    library.mark_used(str(path))

    (model,) = _library(folder, registry).scan()  # read back from the file
    assert model.defaults == defaults
    assert model.source_repo == "owner/repo"
    assert model.last_used is not None
    assert model.last_used >= before.replace(microsecond=0)
    library.set_defaults(str(path), ModelDefaults(n_gpu_layers="auto"))
    assert library.find("m").defaults == ModelDefaults(n_gpu_layers="auto")
    assert library.find("m").source_repo == "owner/repo"  # other fields untouched


def test_a_quantization_made_here_keeps_its_origin(folder: Path, registry: Path) -> None:
    source = _model(folder / "m-f16.gguf")
    made = _model(folder / "quantized" / "m-Q4_K_M.gguf")
    library = _library(folder, registry)
    created = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)

    library.record_origin(made, source=source, qtype="Q4_K_M", created_at=created)

    models = {m.name: m for m in _library(folder, registry).scan()}  # read back from the file
    origin = models["m-Q4_K_M"].origin
    assert origin is not None
    assert (origin.source, origin.qtype) == (str(source), "Q4_K_M")
    assert datetime.fromisoformat(origin.created_at) == created
    assert models["m-f16"].origin is None


def test_an_origin_with_missing_fields_reads_as_none(folder: Path, registry: Path) -> None:
    path = _model(folder / "m.gguf")
    registry.parent.mkdir(parents=True)
    registry.write_text(
        json.dumps({"version": 1, "models": {str(path): {"origin": {"qtype": 5, "source": "x"}}}})
    )
    assert _library(folder, registry).find("m").origin is None


@pytest.mark.parametrize(
    "defaults",
    [
        ModelDefaults(n_ctx=16),
        ModelDefaults(n_threads=0),
        ModelDefaults(n_gpu_layers=-2),
        ModelDefaults(n_gpu_layers="most"),  # type: ignore[arg-type]
    ],
)
def test_defaults_out_of_bounds_are_refused(
    folder: Path, registry: Path, defaults: ModelDefaults
) -> None:
    path = _model(folder / "m.gguf")
    library = _library(folder, registry)

    with pytest.raises(ModelsError) as caught:
        library.set_defaults(str(path), defaults)

    assert caught.value.kind == "invalid"
    assert library.find("m").defaults == ModelDefaults()


def test_a_damaged_registry_is_moved_aside_not_emptied(
    folder: Path, registry: Path, tmp_path: Path
) -> None:
    path = _model(folder / "m.gguf")
    registry.parent.mkdir(parents=True)
    damaged = b'{"version": 1, "models": {"' + str(path).encode() + b'": {"source_repo": "a/b"'
    registry.write_bytes(damaged)
    library = _library(folder, registry)

    (model,) = library.scan()

    assert model.source_repo is None
    assert library.recovered_from is not None
    assert library.recovered_from.parent == registry.parent
    assert library.recovered_from.name.startswith("models.damaged-")
    assert library.recovered_from.read_bytes() == damaged
    library.mark_used(model.id)  # a new registry is started
    assert json.loads(registry.read_text())["models"][model.id]["last_used"]


def test_bad_values_in_the_registry_read_as_unset(folder: Path, registry: Path) -> None:
    path = _model(folder / "m.gguf")
    registry.parent.mkdir(parents=True)
    registry.write_text(
        json.dumps(
            {
                "version": 1,
                "models": {
                    str(path): {
                        "source_repo": 5,
                        "last_used": "yesterday",
                        "defaults": {"n_ctx": "big", "n_gpu_layers": 3},
                    },
                    "relative/path.gguf": {"in_place": True},
                },
            }
        )
    )
    library = _library(folder, registry)

    (model,) = library.scan()

    assert model.source_repo is None
    assert model.last_used is None
    assert model.defaults == ModelDefaults(n_ctx=None, n_gpu_layers=3)
    assert library.recovered_from is None


def test_a_registry_from_a_newer_version_is_kept_aside(folder: Path, registry: Path) -> None:
    path = _model(folder / "m.gguf")
    registry.parent.mkdir(parents=True)
    newer = json.dumps({"version": 99, "models": {str(path): {"source_repo": "a/b"}}})
    registry.write_text(newer)
    library = _library(folder, registry)

    assert library.find("m").source_repo == "a/b"
    library.mark_used(str(path))

    assert (registry.parent / "models.json.v99").read_text() == newer


def test_a_missing_models_folder_is_an_empty_library(tmp_path: Path, registry: Path) -> None:
    library = _library(tmp_path / "not-yet", registry)

    assert library.scan() == []


def test_target_for_puts_hub_files_under_owner_and_name(folder: Path) -> None:
    assert target_for(folder, "owner/repo", "Model-Q4_K_M.gguf") == (
        folder / "owner" / "repo" / "Model-Q4_K_M.gguf"
    )
    assert target_for(folder, "owner/repo", "sub/dir/Model.gguf") == (
        folder / "owner" / "repo" / "sub" / "dir" / "Model.gguf"
    )


@pytest.mark.parametrize(
    ("repo_id", "path", "kind"),
    [
        ("owner/repo", "../evil.gguf", "unsafe_name"),
        ("owner/repo", "a/../../evil.gguf", "unsafe_name"),
        ("owner/repo", "/etc/evil.gguf", "unsafe_name"),
        ("owner/repo", "C:/evil.gguf", "unsafe_name"),
        ("owner/repo", "dir\\evil.gguf", "unsafe_name"),
        ("owner/repo", "evil\0.gguf", "unsafe_name"),
        ("../x", "m.gguf", "invalid"),
        ("owner", "m.gguf", "invalid"),
    ],
)
def test_target_for_refuses_names_that_leave_the_folder(
    folder: Path, repo_id: str, path: str, kind: str
) -> None:
    with pytest.raises(ModelsError) as caught:
        target_for(folder, repo_id, path)
    assert caught.value.kind == kind
    assert list(folder.iterdir()) == []


def test_target_for_refuses_a_symlinked_folder_that_leads_out(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "owner").mkdir()
    (folder / "owner" / "repo").symlink_to(outside)

    with pytest.raises(ModelsError) as caught:
        target_for(folder, "owner/repo", "m.gguf")

    assert caught.value.kind == "unsafe_name"
