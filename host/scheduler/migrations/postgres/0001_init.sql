-- Kiln scheduler store, PostgreSQL dialect. Keep in step with ../sqlite/0001_init.sql:
-- same tables, columns and meaning; only the type names differ.
-- Keys and digests are raw 32-byte BYTEA; amounts are u64 stored bit-for-bit in BIGINT.

CREATE TABLE nodes (
    node_id       BYTEA PRIMARY KEY,
    receipt_key   BYTEA NOT NULL UNIQUE,
    operator      BYTEA NOT NULL UNIQUE,
    manifest      BYTEA NOT NULL,            -- borsh SignedManifest, as the node signed it
    issued_at     BIGINT NOT NULL,
    stake         BIGINT NOT NULL,
    tier          BIGINT NOT NULL,
    max_jobs      BIGINT NOT NULL,
    reputation    BIGINT NOT NULL,
    online        BIGINT NOT NULL,
    registered_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL
);

CREATE TABLE jobs (
    job_id           BYTEA PRIMARY KEY,      -- the job's escrow account
    spec             BYTEA NOT NULL,         -- borsh JobSpec
    renter           BYTEA NOT NULL,
    state            TEXT NOT NULL,
    node_id          BYTEA,
    attempt          BIGINT NOT NULL,
    price_fuel       BIGINT,
    price_gpu        BIGINT,
    price_wall       BIGINT,
    node_confirmed   BIGINT NOT NULL,
    renter_confirmed BIGINT NOT NULL,
    proposed_ms      BIGINT,
    submitted_ms     BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    output           BYTEA,
    output_digest    BYTEA,
    error            TEXT,
    logs             TEXT NOT NULL
);
CREATE INDEX jobs_queue ON jobs (state, submitted_ms, job_id);
CREATE INDEX jobs_node ON jobs (node_id, state);

-- One row per (job, attempt): the primary key is what makes a second
-- assignment of the same attempt impossible, whichever replica tries.
CREATE TABLE assignments (
    job_id  BYTEA NOT NULL,
    attempt BIGINT NOT NULL,
    node_id BYTEA NOT NULL,
    replica TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE faults (
    id       BIGSERIAL PRIMARY KEY,
    node_id  BYTEA NOT NULL,
    job_id   BYTEA NOT NULL,
    attempt  BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    evidence BYTEA NOT NULL,                 -- SHA-256 of `detail`
    detail   TEXT NOT NULL,                 -- canonical JSON the digest covers
    at_ms    BIGINT NOT NULL
);
CREATE INDEX faults_node ON faults (node_id);

-- Receipts stay keyed by the node that signed them, so a job moved to
-- another node leaves the first node's co-signed receipts payable to it.
CREATE TABLE receipts (
    job_id    BYTEA NOT NULL,
    node      BYTEA NOT NULL,
    seq       BIGINT NOT NULL,
    receipt   BYTEA NOT NULL,                -- borsh SignedReceipt
    co_signed BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL,
    PRIMARY KEY (job_id, node, seq)
);
