"""Time the project agreement report on a corpus of realistic size.

    .venv/bin/python bench/agreement_bench.py [--documents 1000] [--annotators 3] [--spans 50] [--budget 5]

Builds a throw-away SQLite database in a temporary folder (SQLITE_PATH), migrates it and
bulk-creates documents x annotators x spans: every annotator copies a shared set of
"true" passages with some exact, some shifted and some missed or invented, and labels
copied with some noise, so every figure has something to measure. Then times
agreement_report() for the whole project (pair F1 exact and overlap, alpha_U, label kappas
and alphas), prints the figures and PASS or MISS against the budget. Not part of the
test suite.
"""
import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = (
    "trade energy yuan rouble pipeline summit sanctions partnership strategic cooperation Arctic route "
    "officials said agreement volume growth currency payments military exercise drills technology "
    "satellite grain exports multipolar order sovereignty territorial BRICS SCO Eurasian union"
).split()
EXTRAS = ["中俄合作", "🤝", "naïve", "—", "𠀀"]
SOURCE_TYPES = ["OFFICIAL", "STATE_MEDIA", "MEDIA", "ANALYST", "AUTHOR", "ANONYMOUS"]


def machine():
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s); Python {platform.python_version()}"


def document_text(rng, n, passages):
    """A text of `passages` sentences of about 50 code points each, and their extents."""
    parts, extents, at = [], [], 0
    for _ in range(passages):
        sentence = " ".join(rng.choice(EXTRAS) if rng.random() < 0.03 else rng.choice(WORDS) for _ in range(6))
        sentence = sentence[0].upper() + sentence[1:] + "."
        extents.append((at, at + len(sentence)))
        parts.append(sentence)
        at += len(sentence) + 1
    return f"{n}: " + " ".join(parts), [(s + len(f"{n}: "), e + len(f"{n}: ")) for s, e in extents]


def build(documents, annotators, spans, seed=11):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from annotations.models import Span, StanceValue, Theme
    from annotations.schema import schema_install_default
    from corpus.models import Document, Membership, Project, text_sha256

    rng = random.Random(seed)
    users = get_user_model()
    project = Project.objects.create(name="Agreement bench", slug="agreement-bench")
    schema_install_default(project)
    people = [users.objects.create_user(f"annotator-{i}") for i in range(annotators)]
    Membership.objects.bulk_create(
        [Membership(project=project, user=u, role=Membership.Role.ANNOTATOR) for u in people]
    )
    themes = list(Theme.objects.filter(project=project).values_list("pk", flat=True))
    stances = list(StanceValue.objects.filter(project=project))
    through = Span.themes.through
    with transaction.atomic():
        texts = {}
        docs = []
        for n in range(documents):
            text, extents = document_text(rng, n, spans)
            texts[n] = extents
            docs.append(Document(project=project, external_id=f"bench-{n:05d}", title=f"Document {n}", text=text))
        for doc in docs:
            doc.text_sha256 = text_sha256(doc.text)
        Document.objects.bulk_create(docs, batch_size=500)
        docs = list(Document.objects.filter(project=project).order_by("external_id"))
        span_rows, theme_rows = [], []
        for n, doc in enumerate(docs):
            for start, end in texts[n]:
                truth = {
                    "themes": rng.sample(themes, rng.choice([1, 1, 2, 3])),
                    "stance": rng.choice(stances), "reliability": rng.choice("ABCDEF"),
                    "credibility": rng.randint(1, 6), "source_type": rng.choice(SOURCE_TYPES),
                }
                for person in people:
                    s, e = start, end
                    roll = rng.random()
                    if roll < 0.2:
                        s, e = s + rng.randint(0, 5), e - rng.randint(0, 5)
                    elif roll < 0.3:
                        # A passage this annotator read differently: half of it only.
                        e = s + (e - s) // 2
                    elif roll < 0.36:
                        # Missed; the annotator marked the end of some other passage instead.
                        s, e = rng.choice(texts[n])
                        s = e - 12
                    span = Span(
                        document=doc, annotator=person, start=s, end=e, text=doc.text[s:e],
                        stance=truth["stance"] if rng.random() < 0.8 else rng.choice(stances),
                        source_reliability=truth["reliability"] if rng.random() < 0.7 else rng.choice("ABCDEF"),
                        info_credibility=truth["credibility"] if rng.random() < 0.7 else rng.randint(1, 6),
                        source_type=truth["source_type"] if rng.random() < 0.85 else rng.choice(SOURCE_TYPES),
                        stance_target=project.stance_target, status=Span.Status.SUBMITTED,
                    )
                    span_rows.append(span)
                    chosen = truth["themes"] if rng.random() < 0.75 else rng.sample(themes, 1)
                    theme_rows.extend(through(span_id=span.pk, theme_id=t) for t in chosen)
            if len(span_rows) >= 20_000:
                Span.objects.bulk_create(span_rows, batch_size=5000)
                through.objects.bulk_create(theme_rows, batch_size=5000)
                span_rows, theme_rows = [], []
        Span.objects.bulk_create(span_rows, batch_size=5000)
        through.objects.bulk_create(theme_rows, batch_size=5000)
    return project


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--spans", type=int, default=50, help="spans per annotator per document")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds the project report may take")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="lectern-agreement-bench-")
    os.environ["SQLITE_PATH"] = str(Path(folder) / "bench.sqlite3")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from annotations.agreement_report import agreement_report
        from annotations.models import Span

        began = time.perf_counter()
        project = build(args.documents, args.annotators, args.spans)
        print(f"machine: {machine()}")
        print(f"data: {args.documents} documents x {args.annotators} annotators x {args.spans} spans = "
              f"{Span.objects.count()} spans, built in {time.perf_counter() - began:.1f} s")

        timings, cpu = [], []
        for _ in range(3):
            began, began_cpu = time.perf_counter(), time.process_time()
            report = agreement_report(project)
            timings.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        best = min(timings)
        spans = report["spans"]
        print(f"project report: best {best:.2f} s wall; runs {', '.join(f'{t:.2f}' for t in timings)} s wall, "
              f"{', '.join(f'{t:.2f}' for t in cpu)} s CPU; load average {os.getloadavg()[0]:.2f}")
        print(f"  documents compared: {report['documents']['compared']} of {report['documents']['total']}")
        print(f"  all pairs: exact F1 {spans['exact']['f1']:.3f}, overlap F1 {spans['overlap']['f1']:.3f}")
        for pair in report["pairs"]:
            kappas = ", ".join(f"{k} {v:.3f}" for k, v in pair["kappa"].items() if v is not None)
            print(f"  {' / '.join(pair['annotators'])}: exact F1 {pair['exact']['f1']:.3f}, overlap F1 "
                  f"{pair['overlap']['f1']:.3f}, alpha_U {pair['alpha_u']:.3f}; kappa {kappas}")
        alpha_u = report["alpha_u"]
        print(f"  alpha_U over {alpha_u['documents']} documents joined: {alpha_u['alpha']:.3f} "
              f"({len(alpha_u['themes'])} themes)")
        for label in report["labels"]:
            fleiss = f", Fleiss kappa {label['fleiss_kappa']:.3f}" if label["fleiss_kappa"] is not None else ""
            print(f"  {label['name']}: alpha {label['alpha']:.3f} over {label['units']} units{fleiss}")
        verdict = "PASS" if best < args.budget else "MISS"
        print(f"{verdict}: {best:.2f} s for the whole project (budget {args.budget:.1f} s)")
        return 0 if verdict == "PASS" else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
