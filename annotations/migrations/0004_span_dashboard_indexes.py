from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("annotations", "0003_span_jsonl_template"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="span",
            index=models.Index(
                fields=["annotator", "status", "source_reliability", "info_credibility", "document", "updated_at"],
                name="span_dashboard_counts",
            ),
        ),
        migrations.AddIndex(
            model_name="span",
            index=models.Index(fields=["id", "document", "status", "stance"], name="span_dashboard_themes"),
        ),
        migrations.AddIndex(
            model_name="span",
            index=models.Index(fields=["document", "stance", "status", "created_at"], name="span_dashboard_layer"),
        ),
    ]
