"""The keyring in tests: what the test machines have (keyring's fail backend) or an
in-memory backend.

No operating-system keyring runs on the test machines (``keyring`` finds only its fail
backend), so the keyring path runs against ``MemoryKeyring``, a real ``keyring`` backend
class that keeps passwords in a dict, installed with ``keyring.set_keyring`` as an OS
keyring would be. That is the one stand-in: the code under test talks to it through the
same ``keyring`` API. Every test that stores a secret installs a backend explicitly, so
no test reaches a developer's real keychain. Use the fixtures by importing them into a
test module or conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend (stands in for Keychain / Secret Service); it can
    be told to fail as a locked or refusing keyring does."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}
        self.fail_get = False
        self.fail_set = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.fail_get:
            raise KeyringLocked("the keyring is locked")
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.fail_set:
            raise PasswordSetError("the keyring refused it")
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.passwords:
            raise PasswordDeleteError("no such password")
        del self.passwords[(service, username)]


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """What the test machine really has: keyring's fail backend."""
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
