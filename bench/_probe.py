from bench import script_time
r = script_time.run(rounds=15)
for c, t in r.items():
    print(c, t.history_cards, t.history_players)
    for k, v in t.ms.items(): print(f"  {k:15} {v:7.2f} {t.ratio(k):5.2f}")
