-- Tally's intake of one completion, in one statement (PostgreSQL only).
--
-- The same work as webhooks.services.event_receive for an accepted
-- completion of a source that is not paused, done where the data is:
--   1. when the caller took the source from its cache (p_source_revision not
--      null), the row must still be what was read (same revision, active, not
--      paused), or nothing is written: 'stale';
--   2. the event is inserted; an idempotency key already taken answers
--      'duplicate' with the stored event's id and changes nothing;
--   3. the user's summary is created if needed and locked (the intake lock of
--      results.locking: the upsert);
--   4. the unit's result is created or replaced when this completion is the
--      latest by (completed_at, attempt, arrival); first/last completion
--      times are kept by LEAST/GREATEST (results.services.result_record_completion);
--   5. the summary takes the delta, and when anything changed its version is
--      bumped and its push is queued for every active destination of the
--      source, with the snapshot a push carries (tally_snapshot; the rows as
--      tally_summaries_enqueue writes them, deliveries/sql/enqueue_v2.sql).
-- Returns the outcome, the event's id and how many outbox rows were written.
-- tests/webhooks/test_intake_sql.py holds both paths to the same results.

CREATE OR REPLACE FUNCTION tally_intake_completion(
    p_source_id bigint, p_source_revision bigint,
    p_key text, p_type text, p_body text, p_received_at timestamptz, p_request_id text,
    p_user_id text, p_email text, p_name text, p_organization text,
    p_unit_id text, p_title text, p_course_id text,
    p_score numeric, p_max_score numeric, p_passed boolean, p_attempt integer, p_completed_at timestamptz,
    p_max_results integer DEFAULT 100,
    OUT outcome text, OUT event_id bigint, OUT queued integer
) LANGUAGE plpgsql AS $fn$
DECLARE
    s results_summary%ROWTYPE;
    r results_result%ROWTYPE;
    v_now timestamptz;
    v_replaces boolean;
    v_first timestamptz;
    v_last timestamptz;
    -- what the unit counted before and counts after: completed, passed, score, max
    b_done integer := 0; b_passed integer := 0; b_score numeric := 0; b_max numeric := 0;
    a_done integer := 1; a_passed integer := CASE WHEN p_passed THEN 1 ELSE 0 END;
    a_score numeric := p_score; a_max numeric := p_max_score;
    n_done integer; n_passed integer; n_score numeric; n_max numeric;  -- the columns bound them
    n_first timestamptz; n_last timestamptz;
    v_snapshot jsonb;
BEGIN
    queued := 0;
    IF p_source_revision IS NOT NULL THEN
        PERFORM 1 FROM webhooks_source
            WHERE id = p_source_id AND revision = p_source_revision AND active AND NOT paused;
        IF NOT FOUND THEN
            outcome := 'stale';
            RETURN;
        END IF;
    END IF;

    INSERT INTO webhooks_event AS e (
        source_id, idempotency_key, type, status, error_code, error_detail, body,
        received_at, processed_at, request_id
    ) VALUES (
        p_source_id, p_key, p_type, 'accepted', '', NULL, p_body, p_received_at, p_received_at, p_request_id
    )
    ON CONFLICT (source_id, idempotency_key) WHERE NOT (status = 'rejected') DO NOTHING
    RETURNING e.id INTO event_id;
    IF event_id IS NULL THEN
        SELECT e.id INTO event_id FROM webhooks_event e
            WHERE e.source_id = p_source_id AND e.idempotency_key = p_key AND e.status <> 'rejected';
        IF event_id IS NULL THEN
            RAISE EXCEPTION 'the idempotency key conflicted with no stored event' USING ERRCODE = '40001';
        END IF;
        outcome := 'duplicate';
        RETURN;
    END IF;

    -- The user's lock; only a non-empty email, name or organization replaces the stored one.
    INSERT INTO results_summary AS x (
        source_id, user_id, user_email, user_name, organization, units_completed, units_passed,
        score_total, max_score_total, percent, version, updated_at
    ) VALUES (p_source_id, p_user_id, p_email, p_name, p_organization, 0, 0, 0, 0, 0, 0, p_received_at)
    ON CONFLICT (source_id, user_id) DO UPDATE SET
        user_email = CASE WHEN excluded.user_email <> '' THEN excluded.user_email ELSE x.user_email END,
        user_name = CASE WHEN excluded.user_name <> '' THEN excluded.user_name ELSE x.user_name END,
        organization = CASE WHEN excluded.organization <> '' THEN excluded.organization ELSE x.organization END
    RETURNING x.* INTO s;
    v_now := clock_timestamp();  -- taken under the lock, as the Python path does

    SELECT * INTO r FROM results_result
        WHERE source_id = p_source_id AND user_id = p_user_id AND unit_id = p_unit_id;
    IF NOT FOUND THEN
        INSERT INTO results_result (
            source_id, user_id, unit_id, title, course_id, score, max_score, passed, attempt, completed_at,
            counts, first_completed_at, last_completed_at, event_id, updated_at
        ) VALUES (
            p_source_id, p_user_id, p_unit_id, p_title, p_course_id, p_score, p_max_score, p_passed, p_attempt,
            p_completed_at, true, p_completed_at, p_completed_at, event_id, v_now
        );
    ELSE
        IF r.counts THEN
            b_done := 1; b_passed := CASE WHEN r.passed THEN 1 ELSE 0 END; b_score := r.score; b_max := r.max_score;
        END IF;
        -- Ties on (completed_at, attempt) go to the later arrival: this one.
        v_replaces := (p_completed_at, p_attempt) >= (r.completed_at, r.attempt);
        v_first := LEAST(r.first_completed_at, p_completed_at);
        v_last := GREATEST(r.last_completed_at, p_completed_at);
        IF v_replaces THEN
            UPDATE results_result SET
                title = p_title, course_id = p_course_id, score = p_score, max_score = p_max_score,
                passed = p_passed, attempt = p_attempt, completed_at = p_completed_at, counts = true,
                event_id = tally_intake_completion.event_id,
                first_completed_at = v_first, last_completed_at = v_last, updated_at = v_now
            WHERE id = r.id;
        ELSE
            a_done := b_done; a_passed := b_passed; a_score := b_score; a_max := b_max;
            IF v_first IS DISTINCT FROM r.first_completed_at OR v_last IS DISTINCT FROM r.last_completed_at THEN
                UPDATE results_result SET first_completed_at = v_first, last_completed_at = v_last, updated_at = v_now
                WHERE id = r.id;
            END IF;
        END IF;
    END IF;

    n_done := s.units_completed + a_done - b_done;
    n_passed := s.units_passed + a_passed - b_passed;
    n_score := s.score_total + a_score - b_score;
    n_max := s.max_score_total + a_max - b_max;
    n_first := LEAST(s.first_activity_at, p_completed_at);
    n_last := GREATEST(s.last_activity_at, p_completed_at);
    outcome := 'accepted';
    IF n_done = s.units_completed AND n_passed = s.units_passed AND n_score = s.score_total
            AND n_max = s.max_score_total AND n_first IS NOT DISTINCT FROM s.first_activity_at
            AND n_last IS NOT DISTINCT FROM s.last_activity_at AND s.deleted_at IS NULL THEN
        RETURN;
    END IF;
    UPDATE results_summary SET
        units_completed = n_done, units_passed = n_passed, score_total = n_score, max_score_total = n_max,
        percent = CASE WHEN n_max <= 0 THEN 0 ELSE round(n_score * 100 / n_max, 2) END,
        first_activity_at = n_first, last_activity_at = n_last, version = s.version + 1,
        deleted_at = NULL, updated_at = v_now
    WHERE id = s.id
    RETURNING * INTO s;

    -- The outbox rows, as tally_summaries_enqueue writes them, for this one
    -- summary: by the source's id, so each statement is planned on its keys.
    IF NOT EXISTS (
        SELECT 1 FROM deliveries_destination_sources ds
        JOIN deliveries_destination dest ON dest.id = ds.destination_id
        WHERE ds.source_id = p_source_id AND dest.active
    ) THEN
        RETURN;
    END IF;
    v_snapshot := tally_snapshot(s, p_max_results);
    INSERT INTO deliveries_delivery AS d (
        destination_id, source_id, user_id, kind, version, snapshot, snapshot_at, rerun, status, attempts,
        next_attempt_at, claim, last_error, request_id, created_at, updated_at
    )
    SELECT ds.destination_id, p_source_id, p_user_id, 'user.summary.updated', s.version, v_snapshot, s.updated_at,
        false, 'pending', 0, v_now, '', '', p_request_id, v_now, v_now
    FROM deliveries_destination_sources ds
    JOIN deliveries_destination dest ON dest.id = ds.destination_id
    WHERE ds.source_id = p_source_id AND dest.active
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
    GET DIAGNOSTICS queued = ROW_COUNT;
END
$fn$;
