"""Scores in the store (migration 8): one transaction with their parts, a token's one set, the library without the
parts (the budget with them), and the state changes the worker and a re-mix make."""
from __future__ import annotations

import sqlite3

import pytest

from lib.core.score import Mix, Part, Score, ScoreState, Source
from lib.core.tasks import Endpoint, State, Task
from lib.service import budget
from lib.store.sqlite import MIGRATIONS, Store

SOURCE = Source(name="0123456789abcdef/" + "a" * 32 + "-1.mp4", duration=16.0, width=64, height=48,
                has_audio=True, label="A boat at sunset", task_id="a" * 32)


def score_with_parts(owner: str = "ann", group_id: str = "g1", seed: int = 7) -> tuple[Score, list[Task]]:
    score_id = Score(SOURCE, (), "", ()).id
    tasks = [Task(Endpoint.VIDU_TIMING2AUDIO, {"model": "audio1.0", "duration": 10.0, "timing_prompts": [
                 {"from": 1.0, "to": 3.0, "prompt": "A door slams"}]}, owner=owner, group_id=score_id,
                  score_id=score_id),
             Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "Piano", "duration": 10.0}, owner=owner,
                  group_id=score_id, score_id=score_id)]
    parts = (Part(tasks[0].id, "effects", 0.0, 10.0), Part(tasks[1].id, "music", 0.0, 16.0))
    score = Score(SOURCE, ({"from": 1.0, "to": 3.0, "prompt": "A door slams"},), "Piano", parts, id=score_id,
                  owner=owner, group_id=group_id, seed=seed)
    return score, tasks


def test_migration_8_adds_the_scores_table_to_an_existing_history(tmp_path):
    path = tmp_path / "studio.db"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS) >= 8
    assert store.recent_scores("ann") == []


def test_a_score_and_every_part_are_stored_together_and_read_back_whole(store):
    score, tasks = score_with_parts()
    stored, new = store.add_score([score], tasks, "token-1")
    assert new and stored == [score]
    assert store.get_score(score.id) == score and store.get_score(score.id, "ann") == score
    assert [task.id for task in store.score_parts(score.id)] == [task.id for task in tasks]
    assert all(task.score_id == score.id for task in store.score_parts(score.id))


def test_a_failing_insert_stores_neither_the_score_nor_any_part(store):
    score, tasks = score_with_parts()
    store.add(tasks[1])  # the same task id again makes the second insert fail
    with pytest.raises(store.IntegrityError):
        store.add_score([score], tasks)
    assert store.get_score(score.id) is None and store.get(tasks[0].id) is None


def test_the_same_token_twice_keeps_one_set(store):
    first, first_tasks = score_with_parts()
    second, second_tasks = score_with_parts()
    store.add_score([first], first_tasks, "token-1")
    stored, new = store.add_score([second], second_tasks, "token-1")
    assert not new and stored == [first] and store.get_score(second.id) is None
    assert store.get(second_tasks[0].id) is None
    assert store.scores_of("ann", "token-1") == [first] and store.scores_of("bob", "token-1") == []
    other, other_tasks = score_with_parts(owner="bob")
    assert store.add_score([other], other_tasks, "token-1")[1]  # another person's token is their own


def test_the_library_leaves_score_parts_out_and_the_budget_counts_them(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    plain = Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "Rain", "duration": 5.0}, owner="ann")
    store.add(plain)
    groups, total = store.library("ann")
    assert total == 1 and [[t.id for t in group] for group in groups] == [[plain.id]]
    assert store.takes([score.id]) == [] and store.in_flight("ann") == [plain]
    assert {t.id for t in store.month_tasks("ann", 0)} == {plain.id, *(t.id for t in tasks)}
    assert budget.spent(store.month_tasks("ann", 0), plain.provider) == 10 + 20 + 20
    assert {t.id for t in store.due(10 ** 12)} == {plain.id, *(t.id for t in tasks)}  # the worker follows parts


def test_recent_scores_are_the_owners_newest_first(store):
    older, older_tasks = score_with_parts()
    store.add_score([older], older_tasks)
    newer, newer_tasks = score_with_parts()
    store.add_score([newer], newer_tasks)
    theirs, their_tasks = score_with_parts(owner="bob")
    store.add_score([theirs], their_tasks)
    assert [s.id for s in store.recent_scores("ann")] == [newer.id, older.id]
    assert [s.id for s in store.recent_scores("ann", limit=1)] == [newer.id]
    assert store.get_score(theirs.id, "ann") is None


def test_a_state_moves_only_from_the_state_it_was_seen_in(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    assert store.scores_in(ScoreState.GENERATING) == [score]
    assert store.move_score(score.id, ScoreState.MIXING, was=ScoreState.GENERATING)
    assert not store.move_score(score.id, ScoreState.FAILED, was=ScoreState.GENERATING, error_message="late")
    assert store.get_score(score.id).state is ScoreState.MIXING and store.scores_in(ScoreState.GENERATING) == []


def test_a_remix_asks_for_the_next_mix_at_once_and_only_for_the_owner(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    store.move_score(score.id, ScoreState.MIXING, was=ScoreState.GENERATING)
    names = {"video": "v1", "sound": "s1", "peaks": "p1", "receipt_file": "r1"}
    done = store.mixed(score.id, 1, receipt={"loudness": -14.0}, **names)
    assert (done.state, done.mixed_version, done.video, done.receipt) == (ScoreState.DONE, 1, "v1", {"loudness": -14.0})
    assert store.remix_score(score.id, "bob", Mix(effects_db=3)) is None
    remixed = store.remix_score(score.id, "ann", Mix(effects_db=3))
    assert (remixed.state, remixed.mix_version, remixed.mixed_version, remixed.mix.effects_db) == (
        ScoreState.MIXING, 2, 1, 3)
    assert store.get_score(score.id) == remixed and remixed.video == "v1"  # the last mix plays until the next


def test_a_mix_finished_after_a_later_one_was_asked_for_keeps_the_score_mixing(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    store.move_score(score.id, ScoreState.MIXING, was=ScoreState.GENERATING)
    store.remix_score(score.id, "ann", Mix(music_db=-12))
    names = {"video": "v1", "sound": "s1", "peaks": "p1", "receipt_file": "r1"}
    first = store.mixed(score.id, 1, receipt={}, **names)
    assert (first.state, first.mixed_version, first.mix_version) == (ScoreState.MIXING, 1, 2)
    assert store.mixed(score.id, 2, receipt={}, **names).state is ScoreState.DONE
    assert store.mixed(score.id, 1, receipt={}, **names) is None  # an older mix never replaces a newer one


def test_a_remix_while_generating_takes_the_new_mix_without_a_new_number(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    remixed = store.remix_score(score.id, "ann", Mix(original_db=-6))
    assert (remixed.state, remixed.mix_version, remixed.mix.original_db) == (ScoreState.GENERATING, 1, -6)


def test_parts_finished_or_not_are_read_in_their_order(store):
    score, tasks = score_with_parts()
    store.add_score([score], tasks)
    store.save(tasks[1].replace(state=State.SUCCEEDED))
    assert [t.state for t in store.score_parts(score.id)] == [State.SUBMITTED, State.SUCCEEDED]
