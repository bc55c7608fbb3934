"""The composition root, submit, worker, callbacks, keyring, settings, accounts, transfer."""
