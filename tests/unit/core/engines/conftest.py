"""Fixtures of the remote-engine tests: the keyring as the test machine has it (none) or
an in-memory backend, and the fault server.

No operating-system keyring runs on the test machines (``keyring`` finds only its fail
backend), so the keyring path runs against ``MemoryKeyring``, a real ``keyring`` backend
class that keeps passwords in a dict, installed with ``keyring.set_keyring`` as an OS
keyring would be (as tests/unit/core/models/test_hub_token.py does). Every test that
stores a key installs a backend explicitly, so no test reaches a real keychain.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from tests.helpers.openai_faults import FaultServer


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend (stands in for Keychain / Secret Service)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.passwords:
            raise PasswordDeleteError("no such password")
        del self.passwords[(service, username)]


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def other_host() -> Iterator[FaultServer]:
    """A second server on another loopback address (127.0.0.2): where a redirect points."""
    with FaultServer(host="127.0.0.2", api_key=None) as server:
        yield server


@pytest.fixture
def faults(other_host: FaultServer) -> Iterator[FaultServer]:
    """The fault server (key ``sk-fault-test``), redirecting to ``other_host``."""
    with FaultServer(redirect_to=other_host.origin, stall_s=10.0) as server:
        yield server
