"""API tokens for the read and admin API."""

from __future__ import annotations

from django.db import models


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 digest is stored."""

    name = models.CharField(max_length=100, unique=True)
    key_prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True)
    is_staff = models.BooleanField(default=False, help_text="Staff tokens manage sources and destinations.")
    destination = models.ForeignKey(
        "deliveries.Destination",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="A client token reads only the sources this destination receives.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_staff=True, destination__isnull=True)
                | models.Q(is_staff=False, destination__isnull=False),
                name="api_token_staff_or_client",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    # DRF's IsAuthenticated asks request.user; the token stands in for a user.
    @property
    def is_authenticated(self) -> bool:
        return True
