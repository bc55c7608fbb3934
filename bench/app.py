"""The studio's router as AppTest's main script, for timing reruns.

Why not streamlit_app.py itself: AppTest resets Streamlit's legacy `pages/` detection before every run, and with
our `pages/` folder beside the main script a rerun of History or Settings would then execute pages/history.py
as a legacy page script (an empty page). The real server switches that detection off in its lifespan; from
this folder, which has no `pages/`, AppTest runs exactly the studio's `main()`.
"""
from streamlit_app import main

main()
