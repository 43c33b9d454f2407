from django.db import migrations

import annotations.export_template
import annotations.span_json


def replace_functions(apps, schema_editor):
    """Both template functions again, now in PL/pgSQL; each gives the same text, so no column changes."""
    annotations.export_template.JsonlTemplate.create_function(apps, schema_editor)
    annotations.span_json.ApiJsonTemplate.create_function(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0006_span_api_json_template"),
    ]

    operations = [
        migrations.RunPython(replace_functions, migrations.RunPython.noop),
    ]
