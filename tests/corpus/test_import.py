import io
import json
import zipfile

import pytest
from django.core.management import call_command

from corpus.models import Document
from corpus.services import documents_import, html_to_text

HOSTILE_HTML = b"""<!doctype html><html><head><title>Hostile &amp; page</title>
<style>body { color: red }</style><script>alert('head')</script></head>
<body onload="alert(1)">
<h1>Trade rose</h1>
<p>Trade in yuan rose by 5&nbsp;% &mdash; officials said.<img src=x onerror="alert(2)"></p>
<p>See <a href="javascript:alert(3)">the report</a> and <b>more</b>.</p>
<script>document.write('evil')</script>
<!-- a comment -->
<div>Last   paragraph
with a line break</div>
</body></html>"""


def run(project, *files):
    return documents_import(project=project, files=list(files))


def statuses(report):
    return [(r.name, r.status) for r in report.results]


def test_plain_text_becomes_a_document_titled_by_its_first_line(project):
    report = run(project, ("notes/brief-01.txt", "Moscow talks\n\nBoth sides met.\n".encode()))
    assert statuses(report) == [("notes/brief-01.txt", "imported")]
    document = Document.objects.get(project=project)
    assert document.external_id == "brief-01"
    assert document.title == "Moscow talks"
    assert document.text == "Moscow talks\n\nBoth sides met.\n"


def test_markdown_title_drops_the_heading_marks(project):
    run(project, ("a.md", b"# The partnership\n\nText here."))
    assert Document.objects.get(project=project).title == "The partnership"


def test_crlf_and_bom_are_normalised_at_ingest(project):
    run(project, ("a.txt", "\ufeffLine one\r\nLine two\rLine three".encode()))
    assert Document.objects.get(project=project).text == "Line one\nLine two\nLine three"


def test_non_breaking_spaces_and_astral_characters_are_kept(project):
    text = "Trade\u00a0rose 😀 中俄 ﬁ e\u0301"
    run(project, ("a.txt", text.encode()))
    assert Document.objects.get(project=project).text == text


def test_hostile_html_is_reduced_to_plain_text(project):
    report = run(project, ("page.html", HOSTILE_HTML))
    assert statuses(report) == [("page.html", "imported")]
    document = Document.objects.get(project=project)
    assert document.title == "Hostile & page"
    assert document.text == (
        "Trade rose\n\n"
        "Trade in yuan rose by 5\u00a0% \u2014 officials said.\n\n"
        "See the report and more.\n\n"
        "Last paragraph with a line break"
    )
    for bad in ("alert", "script", "onerror", "javascript:", "<", "color: red", "evil", "comment"):
        assert bad not in document.text


def test_html_line_breaks_and_preformatted_text(project):
    title, text = html_to_text("<p>one<br>two</p><pre>a  b\n  c</pre>")
    assert title == ""
    assert text == "one\n\ntwo\n\na  b\n  c"


def test_json_records_with_metadata(project):
    records = [
        {"external_id": "x-1", "title": "First", "text": "One.", "outlet": "Xinhua", "published_date": "2025-04-01",
         "language": "en", "genre": "news report", "metadata": {"section": "world"}, "wordcount": 1},
        {"external_id": "x-2", "text": "Two."},
    ]
    report = run(project, ("batch.json", json.dumps({"documents": records}).encode()))
    assert statuses(report) == [("batch.json #1", "imported"), ("batch.json #2", "imported")]
    first = Document.objects.get(project=project, external_id="x-1")
    assert first.outlet == "Xinhua"
    assert first.published_date.isoformat() == "2025-04-01"
    assert first.metadata == {"section": "world", "wordcount": 1}
    assert Document.objects.get(external_id="x-2").title == "Two."


def test_jsonl_reports_each_line(project):
    data = b'{"external_id": "a", "text": "Alpha."}\n\n{"external_id": "b", "title": "B"}\n'
    report = run(project, ("lines.jsonl", data))
    assert statuses(report) == [("lines.jsonl #1", "imported"), ("lines.jsonl #2", "refused")]
    assert "text" in report.results[1].reason
    assert Document.objects.filter(project=project).count() == 1


def test_csv_extra_columns_go_to_metadata(project):
    data = "external_id,title,text,outlet,desk\nc-1,Csv doc,\"Quoted, with comma\",TASS,economy\n".encode()
    report = run(project, ("sheet.csv", data))
    assert statuses(report) == [("sheet.csv #1", "imported")]
    document = Document.objects.get(project=project)
    assert document.text == "Quoted, with comma"
    assert document.metadata == {"desk": "economy"}


def test_zip_of_mixed_files(project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("batch/one.txt", "First document.")
        archive.writestr("batch/two.html", "<p>Second <b>document</b>.</p>")
        archive.writestr("batch/broken.txt", b"\xff\xfe bad bytes")
        archive.writestr("batch/__MACOSX/._one.txt", b"junk")
    report = run(project, ("upload.zip", buffer.getvalue()))
    assert statuses(report) == [
        ("upload.zip/batch/one.txt", "imported"),
        ("upload.zip/batch/two.html", "imported"),
        ("upload.zip/batch/broken.txt", "refused"),
    ]
    assert "UTF-8" in report.results[2].reason


def test_zip_entries_that_escape_the_archive_are_refused(project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/evil.txt", "escape")
        archive.writestr("/abs.txt", "absolute")
        archive.writestr("fine.txt", "A fine file.")
    report = run(project, ("up.zip", buffer.getvalue()))
    by_name = {r.name: r for r in report.results}
    assert by_name["up.zip/../../etc/evil.txt"].status == "refused"
    assert "outside" in by_name["up.zip/../../etc/evil.txt"].reason
    assert by_name["up.zip/fine.txt"].status == "imported"
    assert Document.objects.filter(project=project).count() == 1


def test_a_zip_bomb_is_refused_before_unpacking(project, settings):
    settings.LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES = 1_000_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * 5_000_000)
    assert len(buffer.getvalue()) < 50_000
    report = run(project, ("bomb.zip", buffer.getvalue()))
    assert statuses(report) == [("bomb.zip", "refused")]
    assert "unpacks to" in report.results[0].reason
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("latin1.txt", "Caf\u00e9".encode("latin-1"), "not valid UTF-8"),
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\t\n", "empty"),
        ("broken.json", b'{"text": "unterminated', "broken JSON"),
        ("list.json", b"[]", "expected an object"),
        ("bad.jsonl", b'{"text": "ok"}\n{nope}\n', "broken JSON on line 2"),
        ("notext.csv", b"title,body\nA,B\n", "'text' column"),
        ("image.png", b"\x89PNG", "unsupported file type"),
        ("bad.zip", b"PK\x03\x04 not really", "not a readable zip"),
        ("date.json", b'{"text": "x", "published_date": "yesterday"}', "not a date"),
    ],
)
def test_broken_files_are_refused_with_a_reason(project, name, data, reason):
    report = run(project, (name, data))
    assert [r.status for r in report.results] == ["refused"]
    assert reason in report.results[0].reason
    assert not Document.objects.exists()


def test_an_oversized_file_is_refused_while_others_import(project, settings):
    settings.LECTERN_MAX_DOCUMENT_BYTES = 100
    report = run(project, ("big.txt", b"x" * 101), ("small.txt", b"Small enough."))
    assert statuses(report) == [("big.txt", "refused"), ("small.txt", "imported")]
    assert "too large" in report.results[0].reason


def test_the_same_text_twice_is_reported_as_a_duplicate(project):
    run(project, ("one.txt", b"Same words."))
    report = run(project, ("copy-of-one.txt", b"Same words."), ("other.txt", b"New words."))
    assert statuses(report) == [("copy-of-one.txt", "duplicate"), ("other.txt", "imported")]
    assert "'one'" in report.results[0].reason
    assert Document.objects.filter(project=project).count() == 2


def test_crlf_copy_of_a_document_is_a_duplicate(project):
    run(project, ("a.txt", b"Line one\nLine two"))
    report = run(project, ("b.txt", b"Line one\r\nLine two"))
    assert statuses(report) == [("b.txt", "duplicate")]


def test_an_external_id_clash_with_other_text_is_refused(project):
    run(project, ("same.txt", b"First version."))
    report = run(project, ("same.txt", b"Second version."))
    assert statuses(report) == [("same.txt", "refused")]
    assert "already used" in report.results[0].reason


def test_duplicates_are_per_project(project):
    from tests.factories import ProjectFactory

    other = ProjectFactory()
    run(project, ("one.txt", b"Shared text."))
    report = run(other, ("one.txt", b"Shared text."))
    assert statuses(report) == [("one.txt", "imported")]


def test_too_many_files_are_refused_as_a_whole(project, settings):
    settings.LECTERN_MAX_IMPORT_FILES = 2
    report = run(project, ("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c"))
    assert [r.status for r in report.results] == ["refused"]
    assert not Document.objects.exists()


def test_import_command_reads_a_folder_and_prints_a_summary(project, tmp_path, capsys):
    (tmp_path / "good.txt").write_text("A good document.", encoding="utf-8")
    (tmp_path / "page.html").write_text("<p>An <i>HTML</i> page</p>", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xc3\x28")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG")
    call_command("import_documents", project.slug, str(tmp_path))
    out, err = capsys.readouterr()
    assert "imported  " in out and "good.txt" in out
    assert "bad.txt: not valid UTF-8" in out
    assert "empty.md: empty file" in out
    assert "Summary for %s: 2 imported, 0 duplicate(s), 2 refused." % project.slug in out
    assert "[##############################] 4/4" in err
    assert set(Document.objects.values_list("external_id", flat=True)) == {"good", "page"}

    call_command("import_documents", project.slug, str(tmp_path / "good.txt"))
    assert "0 imported, 1 duplicate(s), 0 refused" in capsys.readouterr().out


@pytest.mark.django_db
def test_import_command_refuses_an_unknown_project(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No project"):
        call_command("import_documents", "nope", str(tmp_path))
