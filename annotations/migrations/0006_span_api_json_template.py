from importlib import import_module

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import annotations.export_template
import annotations.span_json

theme_codes_index = import_module("annotations.migrations.0005_span_dashboard_theme_codes_index")


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0005_span_dashboard_theme_codes_index'),
        ('corpus', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Adding a stored generated column rebuilds the table on SQLite, which would leave out the
        # theme codes column Django does not know (annotations.export_template) and its index:
        # take both away first and put them back, refilled, after the table has its new shape.
        migrations.RunSQL(theme_codes_index.DROP, theme_codes_index.CREATE),
        migrations.RunPython(
            annotations.export_template.remove_theme_codes, annotations.export_template.add_theme_codes
        ),
        # PostgreSQL computes the column through a function of its own (see the module).
        migrations.RunPython(
            annotations.span_json.ApiJsonTemplate.create_function, annotations.span_json.ApiJsonTemplate.drop_function
        ),
        migrations.AddField(
            model_name='span',
            name='api_json_template',
            field=models.GeneratedField(
                db_persist=True, expression=annotations.span_json.ApiJsonTemplate(), output_field=models.TextField()
            ),
        ),
        # Their own indexes went unused: the composite indexes begin with each of them.
        migrations.AlterField(
            model_name='span',
            name='annotator',
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='spans',
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name='span',
            name='document',
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='spans',
                to='corpus.document',
            ),
        ),
        migrations.RunPython(
            annotations.export_template.add_theme_codes, annotations.export_template.remove_theme_codes
        ),
        migrations.RunSQL(theme_codes_index.CREATE, theme_codes_index.DROP),
    ]
