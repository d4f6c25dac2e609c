"""The admin's source form checks what create_source checks, so a bad edit cannot make every webhook fail."""

from __future__ import annotations

from typing import Any

from django import forms

from common.standard_webhooks import is_valid_secret
from webhooks.models import Source
from webhooks.sources import SourceConfigError, check_pybossa_url, source_validate_analysis, source_validate_networks


class SourceAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    pybossa_url = forms.URLField(required=False, assume_scheme="https")
    pybossa_analysis = forms.CharField(
        required=False,
        max_length=255,
        help_text="majority (default when empty), quorum (with a quorum), or the dotted path of a Python callable.",
    )

    class Meta:
        model = Source
        fields = "__all__"  # noqa: DJ007 - the admin decides what it shows

    def _networks(self, name: str) -> list[str]:
        value = self.cleaned_data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError('A list of addresses or CIDR ranges, e.g. ["203.0.113.0/24"].')
        try:
            return source_validate_networks(value, field=name)
        except SourceConfigError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_allowed_ips(self) -> list[str]:
        return self._networks("allowed_ips")

    def clean_denied_ips(self) -> list[str]:
        return self._networks("denied_ips")

    def _secret(self, name: str) -> str:
        value = str(self.cleaned_data.get(name) or "")
        if value and not is_valid_secret(value):
            raise forms.ValidationError("A secret is whsec_ followed by base64.")
        return value

    def clean_secret(self) -> str:
        return self._secret("secret")

    def clean_previous_secret(self) -> str:
        return self._secret("previous_secret")

    def clean_token(self) -> str:
        value = str(self.cleaned_data.get("token") or "")
        if value and len(value) < 16:
            raise forms.ValidationError("The token must be at least 16 characters.")
        return value

    def clean_pybossa_analysis(self) -> str:
        return str(self.cleaned_data.get("pybossa_analysis") or "").strip() or Source.Analysis.MAJORITY

    def clean_pybossa_url(self) -> str:
        value = str(self.cleaned_data.get("pybossa_url") or "")
        try:
            check_pybossa_url(value)
        except SourceConfigError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mode = data.get("auth_mode")
        if mode == Source.AuthMode.NONE and not data.get("allowed_ips"):
            self.add_error("allowed_ips", "Auth 'none' needs an IP allow-list.")
        if mode == Source.AuthMode.STANDARD and not data.get("secret"):
            self.add_error("secret", "Standard auth needs a whsec_ secret.")
        if mode == Source.AuthMode.TOKEN and not data.get("token"):
            self.add_error("token", "Token auth needs a token.")
        analysis = data.get("pybossa_analysis") or Source.Analysis.MAJORITY
        quorum = data.get("pybossa_quorum")
        if data.get("kind") == Source.Kind.PYBOSSA:
            if "pybossa_url" in data and not data.get("pybossa_url"):
                self.add_error("pybossa_url", "A PYBOSSA source needs the URL of its PYBOSSA server.")
            try:
                source_validate_analysis(analysis=analysis, quorum=quorum)
            except SourceConfigError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        elif analysis != Source.Analysis.MAJORITY or quorum is not None:
            self.add_error("pybossa_analysis", "Only PYBOSSA sources have an analysis.")
        return data
