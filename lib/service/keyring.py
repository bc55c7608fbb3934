"""Keys people paste for their own use: held in this server process's memory only, never stored or shown.

A task sent with someone's own key is polled with that key while the server holds it; after a restart the
key is gone, so such tasks wait, marked as needing it, until the person enters it again.

Keys are bound to a real account. Where there is none (a team password only: a typed name is a label anyone
can type), the owner is None and no key is ever held or used for it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from lib.core.errors import ConfigError
from lib.core.tasks import Provider, Task
from lib.service.studio import Vendors

NEEDS_KEY = "Waiting for your own {vendor} key: enter it again in Settings to follow this task."
NO_ACCOUNT = ("Your own keys need personal accounts or single sign-on: with only a team password the studio "
              "cannot tell people apart, so anyone could use a key entered here.")


class Keyring:
    def __init__(self, make_client: Callable[[Provider, dict], object]):
        self._make_client = make_client  # builds a live client from the credentials a person gave
        self._clients: dict[tuple[str, Provider], object] = {}
        self._lock = threading.Lock()

    def set(self, owner: str | None, provider: Provider, **credentials: str) -> None:
        """Raises ConfigError without an account, or the client's own when the credentials are incomplete."""
        if not owner:
            raise ConfigError(NO_ACCOUNT)
        client = self._make_client(provider, credentials)
        with self._lock:
            self._clients[owner, provider] = client

    def forget(self, owner: str | None, provider: Provider) -> None:
        with self._lock:
            self._clients.pop((owner, provider), None)

    def has(self, owner: str | None, provider: Provider) -> bool:
        with self._lock:
            return (owner, provider) in self._clients

    def vendors_for(self, owner: str | None, base: Vendors) -> Vendors:
        """`base` with this person's own clients in place of the studio's, where they gave a key."""
        with self._lock:
            own = {provider: client for (holder, provider), client in self._clients.items() if holder == owner}
        for provider, client in own.items():
            base = base.with_client(provider, client)
        return base

    def missing_for(self, task: Task) -> str | None:
        """Why `task` cannot be followed now (its owner's key is not held), or None."""
        if task.own_key and not self.has(task.owner, task.provider):
            return NEEDS_KEY.format(vendor=task.provider.value.capitalize())
        return None
