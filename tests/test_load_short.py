"""A short run of the load scenario (bench/load.py): nothing acknowledged is lost, nothing refused is stored.

The server is a real gunicorn in a child process on a SQLite file of its own in a temporary
folder, whatever database the suite itself runs on: the scenario needs a database it can
fill and read back outside the test transaction.
"""
import importlib.util
import io
from pathlib import Path

LOAD_PY = Path(__file__).resolve().parent.parent / "bench" / "load.py"


def load_module():
    spec = importlib.util.spec_from_file_location("lectern_bench_load", LOAD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_five_reviewers_lose_nothing_and_see_no_server_error():
    load = load_module()
    output = io.StringIO()
    report = load.run(load.Config(users=5, duration=10, workers=2, think=(0.1, 0.6), out=output))
    text = output.getvalue()

    statuses = report.statuses()
    assert not [status for status in statuses if not isinstance(status, int) or status >= 500], text
    assert report.passed, text
    # The run did the work it claims to check: acknowledged spans, deletes and refusals.
    assert report.counts["acknowledged spans checked"] > 0, text
    assert report.counts["refused writes checked"] > 0, text
    assert statuses[201] > 0 and statuses[204] > 0 and statuses[400] > 0, text
    assert report.counts["final export lines"] == report.counts["spans in database"], text
