-- Indexes of taskdist's run database beyond its keys. Applied when a database is made and
-- again (IF NOT EXISTS) whenever one is opened, so a database made before an index was
-- added gets it on resume; an index changes no data, so the schema version stays.

-- Events name an attempt by task id: every start and end updates its row through this
-- index (without it each such update scanned the table, so a run slowed as it grew).
CREATE INDEX IF NOT EXISTS task_assignments_by_task_id
    ON task_assignments (session_id, task_id, attempt);
