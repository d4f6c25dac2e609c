"""Admin forms that check what the API and the commands check, so an edit cannot break every push."""

from __future__ import annotations

from typing import Any

from django import forms

from deliveries.destinations import DestinationConfigError, check_headers, check_secret, check_url
from deliveries.models import Destination


class DestinationAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Destination
        fields = "__all__"  # noqa: DJ007 - the admin decides what it shows

    def _checked(self, check: Any, value: Any) -> Any:
        try:
            check(value)
        except DestinationConfigError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean_url(self) -> str:
        return str(self._checked(check_url, self.cleaned_data["url"]))

    def clean_secret(self) -> str:
        return str(self._checked(check_secret, self.cleaned_data["secret"]))

    def clean_previous_secret(self) -> str:
        value = self.cleaned_data.get("previous_secret") or ""
        return str(self._checked(check_secret, value or None) or "")

    def clean_headers(self) -> dict[str, str]:
        headers = self.cleaned_data.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise forms.ValidationError('An object of header names to text values, e.g. {"X-Api-Key": "..."}.')
        self._checked(check_headers, headers)
        return headers
