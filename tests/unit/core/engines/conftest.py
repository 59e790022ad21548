"""Fixtures of the remote-engine tests: the keyring as the test machine has it (none) or
an in-memory backend, and the fault server.

No operating-system keyring runs on the test machines (``keyring`` finds only its fail
backend), so the keyring path runs against ``MemoryKeyring``, a real ``keyring`` backend
class that keeps passwords in a dict, installed with ``keyring.set_keyring`` as an OS
keyring would be (tests/helpers/keyrings.py). Every test that
stores a key installs a backend explicitly, so no test reaches a real keychain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.keyrings import MemoryKeyring, memory_keyring, no_keyring
from tests.helpers.openai_faults import FaultServer

__all__ = ["MemoryKeyring", "memory_keyring", "no_keyring"]


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
