from django.db import migrations, models

# Documents arrive thousands at a time and each text is kept twice (the document and its
# first history record). PostgreSQL compresses every text over about 2 kB, by default with
# pglz, which took about 75 ms of each 1,000 documents of 5,000 characters; lz4 takes about
# 25 ms for texts a third larger on disk. Only texts written afterwards change; a server built
# without lz4 (or older than PostgreSQL 14) keeps its default.
TABLES = ("corpus_document", "corpus_historicaldocument")


def lz4_available(cursor):
    cursor.execute(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )
    return cursor.fetchone() is not None


def set_compression(method):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            if method == "lz4" and not lz4_available(cursor):
                return
            for table in TABLES:
                cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "text" SET COMPRESSION {method}')
    return run


class Migration(migrations.Migration):

    dependencies = [
        ('corpus', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(set_compression("lz4"), set_compression("default")),
        # Looked up within a project only, through the unique (project, text_sha256) index.
        migrations.AlterField(
            model_name='document',
            name='text_sha256',
            field=models.CharField(editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name='historicaldocument',
            name='text_sha256',
            field=models.CharField(editable=False, max_length=64),
        ),
    ]
