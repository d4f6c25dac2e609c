"""Re-encrypt every stored secret with the newest FIELD_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from common.encryption import encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (secrets, tokens, API keys, headers) with the first key of "
        "FIELD_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, run this, then drop the old ones."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = encryption_keys_rotate(on_progress=lambda label: self.stderr.write(f"rotating {label}"))
        for row in report.unreadable:
            self.stdout.write(f"unreadable: {row}")
        self.stdout.write(f"rotated: {report.rotated}  unreadable: {len(report.unreadable)}")
        if report.unreadable:
            raise CommandError(
                f"{len(report.unreadable)} values could not be read with any configured key; they were left as they "
                "are. Add the key they were written with to FIELD_ENCRYPTION_KEYS and run again."
            )
