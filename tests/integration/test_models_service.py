"""ModelsService against the fake Hub (a real HTTP server on 127.0.0.1), with the real
huggingface_hub client, real downloads, a real library on disk.

What a user sees: a pulled model (every shard of a split one) ends up verified in the
library with its source; a file that is already there is not fetched again; what the Hub
refuses (a gated repository, a missing file, a hostile name) is a clear error with
nothing written; the endpoint, the token and the models folder follow the settings;
a model loads with its own defaults over the app's, "auto" GPU layers from the fit
advice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos_desktop.core.engine.contract import LoadOptions
from llmos_desktop.core.models import fit
from llmos_desktop.core.models.hub_token import TokenStore
from llmos_desktop.core.models.service import ModelsService
from llmos_desktop.core.models.types import ModelDefaults, ModelsError
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings
from tests.helpers.gguf_factory import write_gguf
from tests.helpers.hub_server import FakeHub

TOKEN = "hf_" + "a" * 34


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """The fake Hub, started for one test."""
    with FakeHub() as hub:
        yield hub


def _gguf(tmp_path: Path, file_name: str, **kwargs: object) -> bytes:
    path = tmp_path / "src" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_gguf(path, **kwargs).read_bytes()  # type: ignore[arg-type]


@pytest.fixture
def paths(llmos_home: Path) -> AppPaths:
    return app_paths().ensure()


def _service(paths: AppPaths, settings: Settings, **kwargs: object) -> ModelsService:
    options = {"starter": None, "environ": {}, **kwargs}
    return ModelsService(
        paths,
        settings,
        token=TokenStore(paths.config / "token", use_keyring=False),
        download_options={"backoff": 0.05, "stall_seconds": 2.0, "min_free_bytes": 0},
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def service(paths: AppPaths, fake_hub: FakeHub) -> Iterator[ModelsService]:
    with _service(paths, Settings(hub_endpoint=fake_hub.url)) as made:
        yield made


def _wait_all(service: ModelsService, ids: list[str]) -> None:
    for download_id in ids:
        ended = service.downloads.wait(download_id, timeout=60)
        assert ended.status == "done", ended


def test_pull_ends_verified_in_the_library_with_its_source(
    service: ModelsService,
    fake_hub: FakeHub,
    tmp_path: Path,
    paths: AppPaths,
) -> None:
    data = _gguf(tmp_path, "m.gguf", chat_template="{{ x }}", extra_kv={"general.size_label": "1M"})
    fake_hub.add_repo("owner/tiny", {"Tiny-Q8_0.gguf": data, "README.md": b"# Tiny"})

    download_id = service.pull("owner/tiny", "Tiny-Q8_0.gguf")
    _wait_all(service, [download_id])

    target = paths.models / "owner" / "tiny" / "Tiny-Q8_0.gguf"
    assert target.read_bytes() == data
    assert not Path(str(target) + ".part").exists()
    (model,) = service.library.scan()
    assert model.path == target
    assert model.source_repo == "owner/tiny"
    assert model.has_chat_template is True
    assert model.parameters == 1_000_000
    assert model.error is None
    # One model file was fetched (and the card, a small metadata file, for the page).
    gets = fake_hub.requests_for(".gguf", "GET")
    assert [r.path.rsplit("/", 1)[-1] for r in gets] == ["Tiny-Q8_0.gguf"]
    assert all(r.authorization is None for r in fake_hub.requests)


def test_pull_of_one_shard_downloads_the_whole_split_model(
    service: ModelsService,
    fake_hub: FakeHub,
    tmp_path: Path,
    paths: AppPaths,
) -> None:
    shards = {
        f"Big-Q4_K_M-{i:05d}-of-00003.gguf": _gguf(tmp_path, f"s{i}.gguf", name=f"part {i}")
        for i in range(1, 4)
    }
    fake_hub.add_repo("owner/big", {**shards, "other-Q8_0.gguf": _gguf(tmp_path, "o.gguf")})

    pulled = service.pull_files("owner/big", "Big-Q4_K_M-00002-of-00003.gguf")

    assert [p.file.path for p in pulled] == sorted(shards)
    _wait_all(service, [p.download_id for p in pulled if p.download_id is not None])
    (model,) = service.library.scan()
    assert model.name == "Big-Q4_K_M"
    assert [p.name for p in model.files] == sorted(shards)
    assert model.error is None
    assert model.source_repo == "owner/big"
    assert not (paths.models / "owner" / "big" / "other-Q8_0.gguf").exists()


def test_a_file_already_here_is_not_fetched_again(
    service: ModelsService,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _gguf(tmp_path, "m.gguf")})
    _wait_all(service, [service.pull("owner/tiny", "Tiny.gguf")])
    fake_hub.clear_requests()

    (again,) = service.pull_files("owner/tiny", "Tiny.gguf")

    assert again.download_id is None
    assert fake_hub.requests_for(".gguf", "GET") == []
    with pytest.raises(ModelsError) as caught:
        service.pull("owner/tiny", "Tiny.gguf")
    assert caught.value.kind == "invalid"
    assert "already in the library" in str(caught.value)


@pytest.mark.parametrize(
    ("repo_id", "path", "kind"),
    [
        ("owner/tiny", "missing.gguf", "not_found"),
        ("owner/tiny", "README.md", "invalid"),
        ("owner/tiny", "../evil.gguf", "unsafe_name"),
        ("owner/nothing", "Tiny.gguf", "not_found"),
        ("not a repo", "Tiny.gguf", "invalid"),
    ],
)
def test_what_cannot_be_pulled_is_refused_with_nothing_written(
    service: ModelsService,
    fake_hub: FakeHub,
    tmp_path: Path,
    paths: AppPaths,
    repo_id: str,
    path: str,
    kind: str,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _gguf(tmp_path, "m.gguf"), "README.md": b"x"})

    with pytest.raises(ModelsError) as caught:
        service.pull(repo_id, path)

    assert caught.value.kind == kind
    assert list(paths.models.rglob("*")) == []
    assert fake_hub.requests_for(".gguf", "GET") == []


def test_a_gated_repository_needs_the_token_which_goes_only_to_the_hub(
    service: ModelsService,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo("owner/gated", {"G.gguf": _gguf(tmp_path, "g.gguf")}, gated="manual")
    fake_hub.required_token = TOKEN

    with pytest.raises(ModelsError) as caught:
        service.pull("owner/gated", "G.gguf")
    assert caught.value.kind == "auth"

    service.token.set(TOKEN)  # the pane's token dialog; the next call uses it
    _wait_all(service, [service.pull("owner/gated", "G.gguf")])

    (model,) = service.library.scan()
    assert model.source_repo == "owner/gated"
    sent = [r for r in fake_hub.requests if r.authorization is not None]
    assert sent
    assert {r.authorization for r in sent} == {f"Bearer {TOKEN}"}


def test_the_endpoint_follows_the_setting_then_hf_endpoint(
    paths: AppPaths,
    fake_hub: FakeHub,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo("owner/tiny", {"Tiny.gguf": _gguf(tmp_path, "m.gguf")})
    dead = "http://127.0.0.1:9"
    with _service(paths, Settings(), environ={"HF_ENDPOINT": fake_hub.url}) as service:
        assert service.endpoint() == fake_hub.url
        assert [r.repo_id for r in service.hub().search("").repos] == ["owner/tiny"]
    with _service(
        paths, Settings(hub_endpoint=fake_hub.url), environ={"HF_ENDPOINT": dead}
    ) as service:
        assert service.endpoint() == fake_hub.url
        first = service.hub()
        service.update_settings(Settings(hub_endpoint=dead))
        assert service.hub() is not first
        assert service.hub().endpoint == dead


def test_a_new_models_folder_setting_gives_a_new_library(paths: AppPaths, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    write_gguf(other / "there.gguf")
    with _service(paths, Settings()) as service:
        assert service.library.scan() == []
        service.update_settings(Settings(models_dir=str(other)))
        assert [m.name for m in service.library.scan()] == ["there"]


def test_load_spec_puts_the_models_defaults_over_the_settings(
    service: ModelsService, paths: AppPaths
) -> None:
    path = write_gguf(paths.models / "m.gguf", context_length=8192)
    base = LoadOptions(n_ctx=2048, n_gpu_layers=5, n_threads=3, chat_template="chatml")
    model = service.library.find("m")

    spec = service.load_spec(model, base)

    assert spec.path == str(path)
    assert (spec.n_ctx, spec.n_threads, spec.chat_template) == (2048, 3, "chatml")
    machine = fit.machine_memory()
    if machine.backend == "cpu":
        assert spec.n_gpu_layers == 0  # "auto" on a machine without a GPU backend
    else:
        assert spec.n_gpu_layers != 5  # "auto" is the fit advice's, not the setting's

    service.library.set_defaults(
        model.id, ModelDefaults(n_ctx=4096, n_gpu_layers=None, n_threads=1, chat_template=None)
    )
    spec = service.load_spec(service.library.find("m"), base)
    assert (spec.n_ctx, spec.n_gpu_layers, spec.n_threads, spec.chat_template) == (
        4096,
        5,
        1,
        "chatml",
    )
    service.library.set_defaults(model.id, ModelDefaults(n_gpu_layers=7))
    assert service.load_spec(service.library.find("m"), base).n_gpu_layers == 7


def test_load_spec_refuses_a_model_that_cannot_be_used(
    service: ModelsService, paths: AppPaths
) -> None:
    (paths.models / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    model = service.library.find("broken")
    assert model.error is not None

    with pytest.raises(ModelsError) as caught:
        service.load_spec(model, LoadOptions())

    assert caught.value.kind == "invalid"
    assert str(caught.value) == model.error


@pytest.mark.model
def test_the_installed_starter_is_in_the_library(paths: AppPaths, chat_model_path: Path) -> None:
    with ModelsService(
        paths, Settings(), environ={}, token=TokenStore(paths.config / "t", use_keyring=False)
    ) as service:
        models = service.library.scan()
        (starter,) = [m for m in models if service.library.is_read_only(m)]
        assert starter.path.resolve() == chat_model_path.resolve()
        assert starter.has_chat_template is True
        assert starter.architecture == "llama"
        assert starter.quant == "Q4_1"
        assert starter.parameters == 135_000_000
        spec = service.load_spec(starter, LoadOptions())
        assert spec.path == str(starter.path)
        with pytest.raises(ModelsError):
            service.library.remove(starter.id)
    assert chat_model_path.is_file()
