import builtins, cProfile, os, pstats, sys, tempfile
from pathlib import Path
from streamlit.testing.v1 import AppTest
from bench import history_data
from lib.ui.runtime import services
d = Path(tempfile.mkdtemp()) / "data"
history_data.seed(d, 1000)
os.environ["STUDIO_DATA_DIR"] = str(d)
services.clear()
page = sys.argv[1] if len(sys.argv) > 1 else "history"
at = AppTest.from_file("/tmp/probe/w/prof_app.py", default_timeout=30).run()
at.session_state["open_page"]=page; at.run(); at.run()
builtins._bench_prof = cProfile.Profile()
for _ in range(30): at.run()
pstats.Stats(builtins._bench_prof).sort_stats(sys.argv[2] if len(sys.argv) > 2 else "cumulative").print_stats(60)
