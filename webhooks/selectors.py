"""Reads of sources and events, and the intake's per-process cache of sources."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiToken
from webhooks.models import Event, Source

# slug -> the active source as last read. Source.revision changes with every write to the row (a trigger): a cached
# source is used only where what is written checks that revision in the same
# statement (tally_intake_completion) or just before (source_is_current), so a
# change made anywhere (the admin, another process, QuerySet.update(), SQL) is
# seen by the next request that would act on it.
_active_sources: dict[str, Source] = {}


def source_get_active(*, slug: str, cached: bool = False) -> Source | None:
    """The active source with this slug; from this process' cache when `cached`.

    A caller taking a cached source must check it with `source_is_current`
    before acting on it, or write through a statement that does.
    """
    if cached:
        found = _active_sources.get(slug)
        if found is not None:
            return found
    found = Source.objects.filter(slug=slug, active=True).first()
    if found is not None:
        _active_sources[slug] = found
    return found


def source_forget(*, slug: str) -> None:
    """Drop a source from this process' cache; the next request reads it again."""
    _active_sources.pop(slug, None)


def source_is_current(source: Source) -> bool:
    """Whether the source's row is still what was read (same revision, still active)."""
    return Source.objects.filter(pk=source.pk, revision=source.revision, active=True).exists()


def source_list(*, reader: ApiToken | None = None) -> QuerySet[Source]:
    """Sources; a client token sees only those its destination receives."""
    if reader is not None and not reader.is_staff:
        # Another destination's source is not there at all for this token (404, not 403).
        return Source.objects.filter(destinations=reader.destination_id)
    return Source.objects.all()


def event_list() -> QuerySet[Event]:
    """Received webhooks, with their source."""
    return Event.objects.select_related("source")
