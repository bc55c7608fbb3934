"""Replicas starting together on a new data folder end up with one and the same media-link secret."""
from __future__ import annotations

import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lib.media.links import SECRET_FILE, server_secret

STARTING = 8  # processes (or threads) asking at the same moment
ROUNDS = 20  # fresh folders for the threads: each race is short
ROOT = Path(__file__).resolve().parents[1]
ASK = ("import sys\nfrom lib.media.links import server_secret\nprint('ready', flush=True)\nsys.stdin.readline()\n"
       "print(server_secret(sys.argv[1]).hex())")


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
    # each says it is ready, then waits for the word to go, so they all ask at the same moment
    asking = [subprocess.Popen([sys.executable, "-c", ASK, str(tmp_path)], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(STARTING)]
    try:
        for process in asking:
            assert process.stdout.readline().strip() == "ready"
        for process in asking:
            process.stdin.write("go\n")
            process.stdin.flush()
        secrets = {process.communicate(timeout=60)[0].strip() for process in asking}
    finally:
        for process in asking:
            process.kill()
    assert all(process.returncode == 0 for process in asking)
    assert len(secrets) == 1
    assert server_secret(tmp_path).hex() in secrets
