-- What the scheduler relays without reading it (see src/relay.rs). Keep in step with
-- ../sqlite/0002_relay.sql.

-- Workload components by SHA-256 of their bytes; nodes check the hash again.
CREATE TABLE components (
    digest     BYTEA PRIMARY KEY,
    bytes      BYTEA NOT NULL,
    stored_ms  BIGINT NOT NULL
);

-- A job's input, sealed by the renter to the node of one attempt.
CREATE TABLE job_inputs (
    job_id     BYTEA NOT NULL,
    attempt    BIGINT NOT NULL,
    sealed     BYTEA NOT NULL,
    result_key BYTEA NOT NULL,                -- X25519 key the node seals the result to
    signature  BYTEA NOT NULL,                -- the renter's, over model::input_message
    PRIMARY KEY (job_id, attempt)
);

-- The node's signed acceptance of one attempt's on-chain terms.
CREATE TABLE job_terms (
    job_id     BYTEA NOT NULL,
    attempt    BIGINT NOT NULL,
    escrow     BIGINT NOT NULL,
    deadline   BIGINT NOT NULL,
    signature  BYTEA NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
