"""The default label schema of the annotation scheme v1.0, installed into new demo projects."""
from django.db import transaction

from .models import StanceValue, Theme

# (key, name, colour, shortcut, sub-theme keys); colours are Tableau 20, distinct for 13 themes.
DEFAULT_THEMES = [
    ("TRADE", "Trade", "#4e79a7", "t", ["volume", "agrifood", "investment"]),
    ("ENERGY", "Energy", "#f28e2b", "e", ["oil_gas", "nuclear", "security"]),
    ("FINANCE", "Finance", "#59a14f", "f", ["currency", "payments", "sanctions"]),
    ("CONNECT", "Connectivity", "#b6992d", "c", ["bri_eaeu", "logistics", "people"]),
    ("MILITARY", "Military", "#e15759", "m", ["exercises", "arms", "deterrence"]),
    ("TECH", "Technology", "#76b7b2", "h", ["digital", "cyber", "space", "science"]),
    ("ORDER", "World order", "#edc948", "o", ["multipolarity", "governance", "global_south"]),
    ("SOVEREIGNTY", "Sovereignty", "#b07aa1", "s", ["non_interference", "territorial", "regime_change"]),
    ("PARTNERSHIP", "Partnership", "#ff9da7", "p", ["non_alignment", "framework", "history", "divergence"]),
    ("INSTITUTIONS", "Institutions", "#9c755f", "i", ["un", "brics", "sco", "eaeu"]),
    ("REGIONS", "Regions", "#86bcb6", "r", ["ukraine", "middle_east", "central_asia", "indo_pacific", "europe", "africa"]),
    ("ARCTIC", "Arctic", "#499894", "a", []),
    ("WEST", "The West", "#d37295", "w", ["us", "eu", "nato"]),
]

DEFAULT_STANCES = [
    ("FAVOR", "Favor", "#2e7d32", "1"),
    ("AGAINST", "Against", "#c62828", "2"),
    ("NEUTRAL", "Neutral (on target, no position)", "#616161", "3"),
    ("NONE", "None (off target)", "#9e9e9e", "4"),
]

SUB_NAMES = {"bri_eaeu": "BRI–EAEU", "oil_gas": "Oil and gas", "un": "UN", "brics": "BRICS", "sco": "SCO",
             "eaeu": "EAEU", "eu": "EU", "us": "US", "nato": "NATO"}


@transaction.atomic
def schema_install_default(project):
    """Create the default themes and stances in project; existing ones are left as they are."""
    position = 0
    for key, name, colour, shortcut, subs in DEFAULT_THEMES:
        position += 1
        top, _ = Theme.objects.get_or_create(
            project=project, code=key,
            defaults={"key": key, "name": name, "colour": colour, "shortcut": shortcut, "position": position},
        )
        for sub in subs:
            position += 1
            Theme.objects.get_or_create(
                project=project, code=f"{key}.{sub}",
                defaults={"key": sub, "parent": top, "name": SUB_NAMES.get(sub, sub.replace("_", " ").capitalize()),
                          "colour": colour, "position": position},
            )
    for position, (key, name, colour, shortcut) in enumerate(DEFAULT_STANCES, start=1):
        StanceValue.objects.get_or_create(
            project=project, key=key,
            defaults={"name": name, "colour": colour, "shortcut": shortcut, "position": position},
        )
