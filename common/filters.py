"""Query-string filters shared by the API's lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601, normalised to UTC; a time that cannot be (year 1 at +01:00) is invalid."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None:
            return None
        try:
            # The database stores UTC; an offset such as +18:51 is legal in ISO 8601 but not in PostgreSQL.
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField
