"""The drafts table on both backends: one draft per person and form, replaced on save, gone when cleared."""


def test_a_draft_is_kept_per_person_and_form_and_replaced_on_save(store):
    assert store.draft("ann", "t2a") is None
    store.save_draft("ann", "t2a", '{"t2a_prompt":"rain"}', 1.0)
    store.save_draft("ann", "tim", '{"tim_seed":7.0}', 1.0)
    store.save_draft("ann", "t2a", '{"t2a_prompt":"thunder"}', 2.0)
    assert store.draft("ann", "t2a") == '{"t2a_prompt":"thunder"}'
    assert store.draft("ann", "tim") == '{"tim_seed":7.0}'
    assert store.draft("bob", "t2a") is None  # nobody sees another's draft


def test_clearing_a_draft_leaves_the_others(store):
    store.save_draft("ann", "t2a", '{"t2a_prompt":"rain"}', 1.0)
    store.save_draft("bob", "t2a", '{"t2a_prompt":"wind"}', 1.0)
    store.clear_draft("ann", "t2a")
    store.clear_draft("ann", "t2a")  # clearing nothing is no error
    assert store.draft("ann", "t2a") is None and store.draft("bob", "t2a") == '{"t2a_prompt":"wind"}'


def test_a_draft_is_read_back_by_another_process_on_the_same_database(store, reopen):
    store.save_draft("ann", "t2a", '{"t2a_prompt":"rain"}', 1.0)
    assert reopen(store).draft("ann", "t2a") == '{"t2a_prompt":"rain"}'  # a restart, or another replica
