"""A killed import leaves only whole documents behind, and running it again finishes the job.

The import runs as a real `manage.py import_documents` process against a SQLite file and is
killed with SIGKILL partway, so nothing in this process can tidy up after it.
"""
import hashlib
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
FILES = 200
KILL_AFTER = 10
PROGRESS = re.compile(rb"(\d+)/" + str(FILES).encode())


def run_env(database):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(SQLITE_PATH=str(database), DEBUG="true")
    return env


def manage(database, *args, timeout=300):
    return subprocess.run(
        [sys.executable, str(MANAGE), *args], env=run_env(database), capture_output=True, text=True,
        timeout=timeout, check=True,
    )


def write_corpus(folder):
    """200 distinct texts, a few kilobytes each, some in other scripts; returns external id -> text."""
    folder.mkdir()
    texts = {}
    for n in range(FILES):
        body = "\n\n".join(
            f"Paragraph {p} of report {n}: trade in yuan rose {n * p} per cent, 中俄贸易 📈, «не так»."
            for p in range(40)
        )
        text = f"Report {n}\n\n{body}\n"
        name = f"report-{n:03d}"
        (folder / f"{name}.txt").write_text(text, encoding="utf-8", newline="")
        texts[name] = text
    return texts


def kill_after_progress(process, at_least):
    """Read the progress bar as it is drawn and SIGKILL the import once it shows at_least files done."""
    seen, deadline = b"", time.monotonic() + 120
    fd = process.stderr.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
        done = [int(n) for n in PROGRESS.findall(seen[-200:])]
        if done and done[-1] >= at_least:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    return seen


def stored(database):
    connection = sqlite3.connect(database)
    try:
        documents = connection.execute(
            "SELECT id, external_id, text, text_sha256 FROM corpus_document ORDER BY id"
        ).fetchall()
        history = connection.execute("SELECT id, history_type FROM corpus_historicaldocument").fetchall()
    finally:
        connection.close()
    return documents, history


def assert_whole(documents, history, texts):
    for _, external_id, text, sha in documents:
        assert text == texts[external_id], external_id
        assert sha == hashlib.sha256(texts[external_id].encode("utf-8")).hexdigest()
    ids = {row[0] for row in documents}
    assert {doc_id for doc_id, _ in history} == ids, "history rows without a document or documents without history"
    assert sorted(doc_id for doc_id, kind in history if kind == "+") == sorted(ids)


def test_killed_import_leaves_whole_documents_and_a_rerun_finishes(tmp_path):
    database = tmp_path / "lectern.sqlite3"
    texts = write_corpus(tmp_path / "reports")
    manage(database, "migrate", "--noinput", "-v", "0")
    manage(database, "shell", "-c", "from corpus.models import Project; Project.objects.create(slug='reports')")

    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "import_documents", "reports", str(tmp_path / "reports")],
        env=run_env(database), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    progress = kill_after_progress(process, KILL_AFTER)

    assert process.returncode == -signal.SIGKILL, progress[-300:]
    documents, history = stored(database)
    assert KILL_AFTER <= len(documents) < FILES
    assert_whole(documents, history, texts)

    rerun = manage(database, "import_documents", "reports", str(tmp_path / "reports"), "--quiet-progress")

    summary = f"Summary for reports: {FILES - len(documents)} imported, {len(documents)} duplicate(s), 0 refused."
    assert summary in rerun.stdout
    earlier = {external_id for _, external_id, _, _ in documents}
    duplicates = set(re.findall(r"^duplicate +\S+/(report-\d+)\.txt", rerun.stdout, re.MULTILINE))
    assert duplicates == earlier
    documents, history = stored(database)
    assert len(documents) == FILES
    assert_whole(documents, history, texts)
