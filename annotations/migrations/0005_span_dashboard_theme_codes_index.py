from django.db import migrations

# annotations.export_template keeps the span's theme codes in annotations_span.theme_codes,
# a column of the database's own (triggers write it) that Django's model does not know, so
# this index is plain SQL. A migration that rebuilds annotations_span on SQLite drops the
# column and this index with it: it must create both again.
CREATE = (
    'CREATE INDEX "span_dashboard_theme_codes" ON "annotations_span" '
    '("stance_id", "theme_codes", "status", "document_id")'
)
DROP = 'DROP INDEX IF EXISTS "span_dashboard_theme_codes"'


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0004_span_dashboard_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="span", name="span_dashboard_themes"),
        migrations.RunSQL(CREATE, DROP),
    ]
