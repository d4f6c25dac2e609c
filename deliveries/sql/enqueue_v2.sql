-- The outbox's enqueue, set-based (PostgreSQL only): the same rows as
-- deliveries.outbox.deliveries_enqueue builds in Python.
--
-- tally_snapshot(summary, max results) is a push's `data` (less `source`,
-- added at send time) for a summary as it is stored, as
-- deliveries.outbox.snapshot_build makes it: the user's latest `max results`
-- counted results, newest first, read from the results' index
-- (result_counted_latest), so its cost does not grow with the user's history;
-- `results_count` is the summary's units_completed (every counted result is
-- one completed unit).
-- tally_summaries_enqueue(ids, destinations, rerun, request id, now, max) queues
-- those summaries for every active destination of their source (or only the
-- destinations named), coalescing into the pending row of each
-- (destination, source, user) as long as the version does not go back.
-- It returns the number of rows written. Callers hold the summaries' locks
-- (results.locking), so the versions and results read here are the ones
-- committed with them.

CREATE OR REPLACE FUNCTION tally_iso(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    -- Python's datetime.isoformat() in UTC with Z: microseconds only when not zero.
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN date_part('microseconds', t)::bigint % 1000000 = 0 THEN ''
                ELSE to_char(t AT TIME ZONE 'UTC', '.US') END
        || 'Z'
$fn$;

CREATE OR REPLACE FUNCTION tally_snapshot(s results_summary, p_max_results integer DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    counted jsonb;
BEGIN
    IF s.deleted_at IS NOT NULL THEN
        RETURN jsonb_build_object('user', jsonb_build_object('id', s.user_id), 'version', s.version);
    END IF;
    SELECT json_agg(json_build_object(
        'unit_id', u.unit_id, 'title', u.title, 'score', u.score::text, 'max_score', u.max_score::text,
        'passed', u.passed, 'completed_at', tally_iso(u.completed_at)
    ) ORDER BY u.completed_at DESC, u.unit_id)::jsonb INTO counted
    FROM (
        SELECT r.unit_id, r.title, r.score, r.max_score, r.passed, r.completed_at
        FROM results_result r
        WHERE r.source_id = s.source_id AND r.user_id = s.user_id AND r.counts
        ORDER BY r.completed_at DESC, r.unit_id
        LIMIT p_max_results
    ) u;
    RETURN jsonb_build_object(
        'user', jsonb_build_object('id', s.user_id, 'email', s.user_email, 'name', s.user_name),
        'version', s.version,
        'summary', jsonb_build_object(
            'units_completed', s.units_completed,
            'units_passed', s.units_passed,
            'score_total', s.score_total::text,
            'max_score_total', s.max_score_total::text,
            'percent', s.percent::text,
            'first_activity_at', tally_iso(s.first_activity_at),
            'last_activity_at', tally_iso(s.last_activity_at)
        ),
        'results', COALESCE(counted, '[]'::jsonb),
        'results_count', s.units_completed,
        'results_complete', s.units_completed <= p_max_results
    );
END
$fn$;

CREATE OR REPLACE FUNCTION tally_summaries_enqueue(
    p_summary_ids bigint[], p_destination_ids bigint[], p_rerun boolean, p_request_id text, p_now timestamptz,
    p_max_results integer DEFAULT 100
) RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    written integer;
BEGIN
    WITH targets AS (
        SELECT s.id AS summary_id, ds.destination_id
        FROM results_summary s
        JOIN deliveries_destination_sources ds ON ds.source_id = s.source_id
        JOIN deliveries_destination dest ON dest.id = ds.destination_id AND dest.active
        WHERE s.id = ANY(p_summary_ids)
          AND (p_destination_ids IS NULL OR ds.destination_id = ANY(p_destination_ids))
    ), snapshots AS MATERIALIZED (
        -- Built once per summary, however many destinations take it.
        SELECT s.id, s.source_id, s.user_id, s.version, s.updated_at, s.deleted_at,
            tally_snapshot(s, p_max_results) AS snapshot
        FROM results_summary s
        WHERE s.id IN (SELECT targets.summary_id FROM targets)
    )
    INSERT INTO deliveries_delivery AS d (
        destination_id, source_id, user_id, kind, version, snapshot, snapshot_at, rerun, status, attempts,
        next_attempt_at, claim, last_error, request_id, created_at, updated_at
    )
    SELECT t.destination_id, n.source_id, n.user_id,
        CASE WHEN n.deleted_at IS NULL THEN 'user.summary.updated' ELSE 'user.deleted' END,
        n.version, n.snapshot, n.updated_at, p_rerun, 'pending', 0, p_now, '', '', p_request_id, p_now, p_now
    FROM targets t JOIN snapshots n ON n.id = t.summary_id
    ON CONFLICT (destination_id, source_id, user_id) WHERE status = 'pending'
    DO UPDATE SET
        kind = excluded.kind,
        version = excluded.version,
        snapshot = excluded.snapshot,
        snapshot_at = excluded.snapshot_at,
        request_id = excluded.request_id,
        rerun = CASE WHEN excluded.version > d.version THEN excluded.rerun ELSE d.rerun OR excluded.rerun END,
        updated_at = excluded.updated_at
    WHERE d.version <= excluded.version;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$fn$;
