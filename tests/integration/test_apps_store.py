"""The installed apps on a real disk: install, update, remove, export and import, and what
is left after a restart (a new AppStore, a new AppsService on the same folders).

What a user checks: an installed app is there after the app restarts, byte for byte the
file they installed; an update replaces it only with a newer version (an older one is
refused with both versions named, and the installed app is untouched); an exported
file installs elsewhere as the same app; a damaged file in the folder is reported and
kept, never deleted; a failed write leaves the installed app as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos_desktop.core.apps.manifest import AppError, AppManifest
from llmos_desktop.core.apps.package import llmapp_bytes, read_llmapp
from llmos_desktop.core.apps.service import AppsService
from llmos_desktop.core.apps.store import AppStore
from llmos_desktop.core.paths import AppPaths, app_paths
from llmos_desktop.core.settings import Settings
from tests.helpers.app_samples import app, llmapp, manifest, write_llmapp_file


@pytest.fixture
def paths(llmos_home: Path) -> AppPaths:
    return app_paths().ensure()


@pytest.fixture
def folder(paths: AppPaths) -> Path:
    return paths.data / "apps"


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_install_survives_a_restart_byte_for_byte(folder: Path, tmp_path: Path) -> None:
    source = write_llmapp_file(tmp_path / "downloads", "form")
    store = AppStore(folder)
    assert store.installed() == []
    installed = store.install(source)
    assert installed.id == "org.llmos.test.poem"
    assert _files(folder) == ["org.llmos.test.poem.llmapp"], "one file, no temporary left"
    assert (folder / "org.llmos.test.poem.llmapp").read_bytes() == source.read_bytes()

    restarted = AppStore(folder)
    assert [a.id for a in restarted.installed()] == ["org.llmos.test.poem"]
    assert restarted.get("org.llmos.test.poem") == installed
    assert restarted.is_installed("org.llmos.test.poem")
    assert restarted.problems == []


def test_each_kind_of_source_installs(folder: Path, tmp_path: Path) -> None:
    store = AppStore(folder)
    from_path = store.install(write_llmapp_file(tmp_path, "form"))
    from_bytes = store.install(llmapp("structured"))
    built = app("chat")  # the builder hands a manifest
    from_manifest = store.install(built)
    assert {a.id for a in store.installed()} == {from_path.id, from_bytes.id, from_manifest.id}
    assert store.data(built.id) == llmapp_bytes(built)
    assert read_llmapp(folder / f"{built.id}.llmapp") == built


def test_newer_versions_update_and_older_ones_are_refused(folder: Path) -> None:
    store = AppStore(folder)
    store.install(llmapp("form", version="1.1.0"))
    path = folder / "org.llmos.test.poem.llmapp"
    first = path.read_bytes()

    assert store.compare(app("form", version="1.0.0")) == "older"
    with pytest.raises(AppError) as older:
        store.install(llmapp("form", version="1.0.0"))
    assert older.value.field == "version"
    assert "1.0.0" in older.value.message and "1.1.0" in older.value.message
    assert path.read_bytes() == first, "the installed app is untouched"

    changed = llmapp("form", version="1.1.0", description="Other content, same version.")
    assert store.compare(read_llmapp(changed), changed) == "changed"
    with pytest.raises(AppError, match="higher version"):
        store.install(changed)
    assert path.read_bytes() == first

    assert store.compare(read_llmapp(first), first) == "same"
    assert store.install(first).version == "1.1.0"  # the same file: nothing to do

    newer = llmapp("form", version="1.2.0-beta.1")
    assert store.compare(read_llmapp(newer), newer) == "newer"
    assert store.install(newer).version == "1.2.0-beta.1"
    assert path.read_bytes() == newer
    release = llmapp("form", version="1.2.0")
    assert store.install(release).version == "1.2.0", "a release is newer than its beta"

    # What the user asked for explicitly: going back, or the builder saving an edit.
    assert store.install(llmapp("form", version="1.0.0"), replace=True).version == "1.0.0"
    assert AppStore(folder).get("org.llmos.test.poem").version == "1.0.0"


def test_remove_export_and_import_round_trip(folder: Path, tmp_path: Path) -> None:
    store = AppStore(folder)
    original = store.install(llmapp("structured"))
    exported = store.export(original.id, tmp_path / "shared" / "contact.llmapp")
    assert exported.read_bytes() == store.data(original.id)
    into_folder = store.export(original.id, tmp_path)
    assert into_folder == tmp_path / "org.llmos.test.contact.llmapp"

    store.remove(original.id)
    assert store.installed() == [] and _files(folder) == []
    with pytest.raises(AppError) as gone:
        store.remove(original.id)
    assert gone.value.kind == "not_found"
    with pytest.raises(AppError) as not_there:
        store.export(original.id, tmp_path / "again.llmapp")
    assert not_there.value.kind == "not_found"
    assert not (tmp_path / "again.llmapp").exists()

    elsewhere = AppStore(tmp_path / "another-machine" / "apps")
    imported = elsewhere.install(exported)
    assert imported == original
    assert imported.output_schema == manifest("structured")["output_schema"]


def test_bad_files_are_refused_and_damaged_ones_kept(folder: Path, tmp_path: Path) -> None:
    store = AppStore(folder)
    store.install(llmapp("form"))
    hostile = [
        b"not json",
        b'{"format_version": 1}',
        llmapp("form", id="../../evil"),
        llmapp("form", name="<b>bold</b>"),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    ]
    for data in hostile:
        with pytest.raises(AppError) as refused:
            store.install(data)
        assert refused.value.kind == "invalid", data[:40]
    with pytest.raises(AppError) as missing:
        store.install(tmp_path / "nothing.llmapp")
    assert missing.value.kind == "io"
    assert _files(folder) == ["org.llmos.test.poem.llmapp"], "nothing else was written"

    for bad_id in ("../x", "a/b", "", ".hidden"):
        with pytest.raises(AppError):
            store.path_for(bad_id)

    damaged = folder / "org.llmos.test.cut.llmapp"
    damaged.write_bytes(llmapp("form")[:50])
    misnamed = folder / "org.llmos.test.other.llmapp"
    misnamed.write_bytes(llmapp("chat"))
    listed = AppStore(folder).installed()
    assert [a.id for a in listed] == ["org.llmos.test.poem"]
    store = AppStore(folder)
    store.installed()
    assert sorted(p.path.name for p in store.problems) == [damaged.name, misnamed.name]
    assert damaged.exists() and misnamed.exists(), "damaged files are kept for the user"
    # Installing the app whose file is damaged repairs it.
    repaired = store.install(llmapp("form", id="org.llmos.test.cut"))
    assert repaired.id == "org.llmos.test.cut"
    assert store.get("org.llmos.test.cut") == repaired


def test_a_failed_write_leaves_the_installed_app(folder: Path) -> None:
    store = AppStore(folder)
    store.install(llmapp("form"))
    before = store.data("org.llmos.test.poem")
    # A folder where the file should go: the rename fails for real.
    (folder / "org.llmos.test.contact.llmapp").mkdir()
    with pytest.raises(AppError) as failed:
        store.install(llmapp("structured"))
    assert failed.value.kind == "io"
    assert store.data("org.llmos.test.poem") == before
    assert sorted(_files(folder)) == ["org.llmos.test.contact.llmapp", "org.llmos.test.poem.llmapp"]
    assert not any(name.startswith(".") for name in _files(folder)), "no temporary file left"


def test_the_service_lists_builtin_and_installed_apps_and_updates(paths: AppPaths) -> None:
    catalogue = [app("form", version="2.0.0"), app("chat")]
    service = AppsService(paths, Settings(), catalogue_repo=None, builtin=lambda: catalogue)
    try:
        items = {item.id: item for item in service.catalogue()}
        assert set(items) == {"org.llmos.test.poem", "org.llmos.test.pirate"}
        assert all(i.source == "builtin" and i.installed is None for i in items.values())

        service.install(llmapp("form", version="1.0.0"))  # an older copy, from a file
        service.install(llmapp("structured"))  # no catalogue lists it
        items = {item.id: item for item in service.catalogue()}
        assert items["org.llmos.test.contact"].source == "installed"
        poem = items["org.llmos.test.poem"]
        assert poem.installed is not None and poem.installed.version == "1.0.0"
        assert poem.update_available
        assert [i.id for i in service.updates()] == ["org.llmos.test.poem"]

        updated = service.install("org.llmos.test.poem")  # by id: the catalogue's
        assert updated.version == "2.0.0"
        assert service.updates() == []
        assert service.find("org.llmos.test.pirate").mode == "chat"  # not installed
        with pytest.raises(AppError) as unknown:
            service.install("org.llmos.test.nothing")
        assert unknown.value.kind == "not_found"
    finally:
        service.close()

    restarted = AppsService(paths, Settings(), catalogue_repo=None, builtin=lambda: catalogue)
    try:
        installed = {a.id: a.version for a in restarted.installed()}
        assert installed == {"org.llmos.test.poem": "2.0.0", "org.llmos.test.contact": "1.0.0"}
    finally:
        restarted.close()


def test_the_shipped_catalogue_installs_byte_for_byte(paths: AppPaths) -> None:
    from llmos_desktop.core.apps.package import builtin_catalogue, builtin_catalogue_folder

    shipped: list[AppManifest] = builtin_catalogue()
    if not shipped:
        pytest.skip("the built-in catalogue has no apps yet")
    service = AppsService(paths, Settings(), catalogue_repo=None)
    try:
        first = shipped[0]
        assert {i.id for i in service.catalogue()} >= {a.id for a in shipped}
        service.install(first.id)
        files = {p.name: p.read_bytes() for p in builtin_catalogue_folder().glob("*.llmapp")}
        assert service.store.data(first.id) in files.values()
    finally:
        service.close()
