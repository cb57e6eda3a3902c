-- What the scheduler relays without reading it (see src/relay.rs). Keep in step with
-- ../postgres/0002_relay.sql.

-- Workload components by SHA-256 of their bytes; nodes check the hash again.
CREATE TABLE components (
    digest     BLOB PRIMARY KEY,
    bytes      BLOB NOT NULL,
    stored_ms  INTEGER NOT NULL
);

-- A job's input, sealed by the renter to the node of one attempt.
CREATE TABLE job_inputs (
    job_id     BLOB NOT NULL,
    attempt    INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    result_key BLOB NOT NULL,                -- X25519 key the node seals the result to
    signature  BLOB NOT NULL,                -- the renter's, over model::input_message
    PRIMARY KEY (job_id, attempt)
);

-- The node's signed acceptance of one attempt's on-chain terms.
CREATE TABLE job_terms (
    job_id     BLOB NOT NULL,
    attempt    INTEGER NOT NULL,
    escrow     INTEGER NOT NULL,
    deadline   INTEGER NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
