"""Keys people paste for their own use: held in this server process's memory only, never stored or shown.

A task sent with someone's own key is polled with that key while the server holds it; after a restart the
key is gone, so such tasks wait, marked as needing it, until the person enters it again. With several studio
processes (replicas) the store records which process holds a person's key (never the key), renewed while it
runs: the others leave that person's tasks to it, and after it stops they can say the key was lost and must be
entered again, rather than that it was never entered.

Keys are bound to a real account. Where there is none (a team password only: a typed name is a label anyone
can type), the owner is None and no key is ever held or used for it.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from lib.core.errors import ConfigError
from lib.core.tasks import Provider, Task
from lib.service.studio import Vendors
from lib.store.base import BaseStore

NEEDS_KEY = "Waiting for your own {vendor} key: enter it again in Settings to follow this task."
KEY_LOST = ("Your own {vendor} key was entered on a studio server that has since stopped, so the studio no longer "
            "has it: enter it again in Settings to follow this task.")
KEY_LOST_HERE = ("You entered your own {vendor} key on a studio server that has since stopped, and this one does "
                 "not have it: enter it again below. Your tasks sent with it wait until then.")
HOLD_SECONDS = 5.0  # a holder's record outlives its last renewal (every second, by the worker) this long
NO_ACCOUNT = ("Your own keys need personal accounts or single sign-on: with only a team password the studio "
              "cannot tell people apart, so anyone could use a key entered here.")


class Keyring:
    def __init__(self, make_client: Callable[[Provider, dict], object], store: BaseStore | None = None,
                 holder: str | None = None):
        """`store`: where the keys held are recorded for the other processes; `holder`: this process's name."""
        self._make_client = make_client  # builds a live client from the credentials a person gave
        self.store, self.holder = store, holder or uuid.uuid4().hex
        self._clients: dict[tuple[str, Provider], object] = {}
        self._lock = threading.Lock()

    def set(self, owner: str | None, provider: Provider, **credentials: str) -> None:
        """Raises ConfigError without an account, or the client's own when the credentials are incomplete."""
        if not owner:
            raise ConfigError(NO_ACCOUNT)
        client = self._make_client(provider, credentials)
        with self._lock:
            self._clients[owner, provider] = client
        if self.store:
            self.store.hold_keys(self.holder, [(owner, provider)], time.time() + HOLD_SECONDS)

    def forget(self, owner: str | None, provider: Provider) -> None:
        with self._lock:
            self._clients.pop((owner, provider), None)
        if self.store and owner:
            self.store.drop_key(self.holder, owner, provider)

    def renew(self, now: float) -> None:
        """Record again that this process holds its keys (the worker calls this every second)."""
        with self._lock:
            held = list(self._clients)
        if self.store and held:
            self.store.hold_keys(self.holder, held, now + HOLD_SECONDS)

    def lost(self, owner: str | None, provider: Provider) -> bool:
        """Whether `owner` pasted a key for `provider` that no running process holds any more (to enter again)."""
        return (bool(self.store and owner) and not self.has(owner, provider)
                and self.store.key_holder(owner, provider, time.time()) == "")

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

    def vendors_for_task(self, task: Task, base: Vendors) -> Vendors:
        """The vendors to ask about `task`: its owner's own client for a task sent with their key, else `base`.
        Raises ConfigError (saying why) when that key is not held: such a task never goes with the studio's."""
        if waiting := self.missing_for(task):
            raise ConfigError(waiting)
        return self.vendors_for(task.owner, base) if task.own_key else base

    def missing_for(self, task: Task) -> str | None:
        """Why `task` cannot be followed now (its owner's key is not held), or None."""
        if task.own_key and not self.has(task.owner, task.provider):
            message = KEY_LOST if self.lost(task.owner, task.provider) else NEEDS_KEY
            return message.format(vendor=task.provider.value.capitalize())
        return None
