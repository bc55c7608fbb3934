"""Replicas starting together on a new data folder end up with one and the same media-link secret."""
from __future__ import annotations

import multiprocessing
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

from lib.media.links import SECRET_FILE, server_secret

STARTING = 8  # processes (or threads) asking at the same moment
ROUNDS = 20  # fresh folders for the threads: each race is short


def _secret_after(barrier, data_dir, answers) -> None:
    barrier.wait()
    answers.put(server_secret(data_dir).hex())


def test_threads_asking_at_once_on_a_new_folder_all_get_the_one_secret_kept(tmp_path):
    for round_number in range(ROUNDS):
        folder = tmp_path / str(round_number)
        barrier = threading.Barrier(STARTING)

        def ask(_, barrier=barrier, folder=folder) -> bytes:
            barrier.wait()
            return server_secret(folder)
        with ThreadPoolExecutor(STARTING) as pool:
            secrets = set(pool.map(ask, range(STARTING)))
        assert len(secrets) == 1 and len(secrets.pop()) == 32
        assert sorted(path.name for path in folder.iterdir()) == [SECRET_FILE]  # no candidate left behind
    assert stat.S_IMODE((folder / SECRET_FILE).stat().st_mode) == 0o600


def test_processes_starting_at_once_on_a_new_folder_agree_and_a_restart_reads_the_same(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(STARTING), context.Queue()
    processes = [context.Process(target=_secret_after, args=(barrier, tmp_path, answers)) for _ in range(STARTING)]
    for process in processes:
        process.start()
    secrets = {answers.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(secrets) == 1
    assert server_secret(tmp_path).hex() in secrets
