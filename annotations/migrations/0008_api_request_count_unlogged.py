from django.db import migrations

# The request counts of annotations.throttling are rewritten on every API request and are
# worth nothing after a crash (a window lasts a minute). On PostgreSQL an unlogged table
# writes no WAL, so a request's count commits without waiting for a WAL flush; the server
# empties such a table after a crash, which here only restarts the clients' windows.
TABLE = '"annotations_apirequestcount"'


def set_logged(logged):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {TABLE} SET {'LOGGED' if logged else 'UNLOGGED'}")
    return run


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0007_span_templates_plpgsql"),
    ]

    operations = [
        migrations.RunPython(set_logged(False), set_logged(True)),
    ]
