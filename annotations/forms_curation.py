"""The curator's gold span editor."""
from django import forms

from .models import ClaimType, InfoCredibility, SourceReliability, SourceType, StanceValue, Theme

MODES = [("new", "New"), ("edit", "Accept with changes"), ("merge", "Merge"), ("update", "Edit gold")]


def _blank(choices, label="—"):
    return [("", label), *choices]


class ThemeChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, theme):
        return f"{theme.code} — {theme.name}"


class GoldForm(forms.Form):
    """Extent and labels of a gold span; which spans it comes from travels in hidden fields."""

    mode = forms.ChoiceField(choices=MODES, widget=forms.HiddenInput)
    sources = forms.CharField(required=False, widget=forms.HiddenInput)
    gold = forms.CharField(required=False, widget=forms.HiddenInput)
    extent = forms.CharField(required=False, max_length=64)
    start = forms.IntegerField(min_value=0, required=False)
    end = forms.IntegerField(min_value=1, required=False)
    themes = ThemeChoiceField(queryset=Theme.objects.none(), to_field_name="code",
                              widget=forms.CheckboxSelectMultiple)
    stance = forms.ModelChoiceField(queryset=StanceValue.objects.none(), to_field_name="key", required=False,
                                    empty_label="—")
    stance_target = forms.CharField(max_length=200, required=False)
    source_reliability = forms.ChoiceField(choices=_blank(SourceReliability.choices), required=False)
    info_credibility = forms.TypedChoiceField(choices=_blank(InfoCredibility.choices), coerce=int,
                                              empty_value=None, required=False)
    source_type = forms.ChoiceField(choices=_blank(SourceType.choices), required=False, label="Source type")
    source_name = forms.CharField(max_length=200, required=False, label="Source name")
    source_affiliation = forms.CharField(max_length=200, required=False, label="Affiliation")
    source_via = forms.CharField(max_length=200, required=False, label="Via")
    claim_type = forms.ChoiceField(choices=_blank(ClaimType.choices), required=False, label="Claim type")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["themes"].queryset = Theme.objects.filter(project=project).order_by("position", "code")
        self.fields["stance"].queryset = StanceValue.objects.filter(project=project).order_by("position", "key")

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            self.add_error("end", "The end must come after the start.")
        return data
