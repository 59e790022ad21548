"""``EnginesService``: the remote engines behind one front, for Settings → Engines, the
chat picker and ``llmos engines``.

It joins the registry (``data/engines.json`` and the keys in the keyring, registry.py)
and the clients (remote.py): one ``RemoteClient`` per engine, made when first needed
and kept (its connections are reused by every chat on that engine), dropped when the
engine's configuration or key changes.

Which calls block and which are async (the window runs the blocking ones on the loop's
executor, and awaits the async ones on its loop):

=========================  ==========  ===================================================
call                       kind        returns
=========================  ==========  ===================================================
``list()``                 blocking    ``list[RemoteEngineConfig]``, in the order added
``get(name)``              blocking    ``RemoteEngineConfig`` (EngineRegistryError)
``add(config, api_key)``   blocking    where the key went: "keyring", "file" or None
``remove(name)``           blocking    the removed ``RemoteEngineConfig``
``set_api_key(name, k)``   blocking    "keyring", "file" or None (k None: forgotten)
``key_place(name)``        blocking    "keyring", "file" or None (no key)
``engine_for(name, id)``   blocking    ``RemoteEngine`` (first call per engine reads the
                                       key and builds a TLS context; later ones are cheap)
``check(name)``            async       ``EngineCheck`` (failures are in it, not raised;
                                       an unknown name raises EngineRegistryError)
``check_config(c, key)``   async       ``EngineCheck`` of an engine not added yet
``models(name)``           async       ``list[str]`` (RemoteAPIError/RemoteConnectionError)
``aclose()``               async       closes the clients
=========================  ==========  ===================================================

``problems`` and ``recovered_from`` say what the last read of the file left out (a
damaged file moved aside, an entry that did not validate).
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from pathlib import Path

from llmos_desktop.core.engines.registry import EngineRegistry
from llmos_desktop.core.engines.remote import RemoteClient, RemoteEngine, check_client
from llmos_desktop.core.engines.types import EngineCheck, RemoteEngineConfig
from llmos_desktop.core.paths import AppPaths
from llmos_desktop.core.secrets import SecretPlace

__all__ = ["EnginesService"]


class EnginesService:
    """The remote engines of ``paths`` (see the module docstring for each call)."""

    def __init__(self, paths: AppPaths, *, use_keyring: bool | None = None) -> None:
        self.registry = EngineRegistry(paths.data, paths.config, use_keyring=use_keyring)
        self._clients: dict[str, RemoteClient] = {}
        self._retired: builtins.list[RemoteClient] = []
        self._lock = threading.Lock()

    @property
    def file(self) -> Path:
        return self.registry.file

    @property
    def problems(self) -> builtins.list[str]:
        return list(self.registry.problems)

    @property
    def recovered_from(self) -> Path | None:
        return self.registry.recovered_from

    # --- blocking: the file and the keyring ---------------------------------------------

    def list(self) -> builtins.list[RemoteEngineConfig]:
        return self.registry.list()

    def get(self, name: str) -> RemoteEngineConfig:
        return self.registry.get(name)

    def add(
        self, config: RemoteEngineConfig, api_key: str | None = None, *, replace: bool = False
    ) -> SecretPlace | None:
        """Adds (or with ``replace`` changes) an engine; ``api_key`` None keeps the old key
        when replacing, and means "no key" for a new engine."""
        place = self.registry.add(config, api_key, replace=replace)
        self._drop(config.name)
        return place

    def remove(self, name: str) -> RemoteEngineConfig:
        removed = self.registry.remove(name)
        self._drop(removed.name)
        return removed

    def set_api_key(self, name: str, api_key: str | None) -> SecretPlace | None:
        place = self.registry.set_api_key(name, api_key)
        self._drop(name)
        return place

    def key_place(self, name: str) -> SecretPlace | None:
        return self.registry.key_place(name)

    def client_for(self, name: str) -> RemoteClient:
        """The engine's client (made once, kept until its configuration or key changes)."""
        config = self.registry.get(name)
        with self._lock:
            client = self._clients.get(config.name.lower())
            if client is not None and client.config == config:
                return client
        made = RemoteClient(config, self.registry.api_key(config.name))
        with self._lock:
            current = self._clients.get(config.name.lower())
            if current is not None:
                if current.config == config:  # another thread made it meanwhile
                    self._retired.append(made)
                    return current
                self._retired.append(current)
            self._clients[config.name.lower()] = made
        return made

    def engine_for(self, name: str, model_id: str) -> RemoteEngine:
        """``model_id`` of engine ``name``, as a chat session's or app runner's engine."""
        return RemoteEngine(self.client_for(name), model_id)

    def _drop(self, name: str) -> None:
        with self._lock:
            client = self._clients.pop(name.lower(), None)
            if client is not None:
                self._retired.append(client)

    # --- async: the network ---------------------------------------------------------------

    async def check(self, name: str) -> EngineCheck:
        client = await asyncio.get_running_loop().run_in_executor(None, self.client_for, name)
        return await check_client(client)

    async def check_config(
        self, config: RemoteEngineConfig, api_key: str | None = None
    ) -> EngineCheck:
        """Check an engine before it is added (the Settings form's Check button)."""
        from llmos_desktop.core.engines.registry import check_api_key

        key = check_api_key(api_key) if api_key else None
        client = await asyncio.get_running_loop().run_in_executor(None, RemoteClient, config, key)
        try:
            return await check_client(client)
        finally:
            await client.aclose()

    async def models(self, name: str) -> builtins.list[str]:
        client = await asyncio.get_running_loop().run_in_executor(None, self.client_for, name)
        return await client.models()

    async def aclose(self) -> None:
        with self._lock:
            clients = [*self._clients.values(), *self._retired]
            self._clients.clear()
            self._retired.clear()
        for client in clients:
            await client.aclose()
