-- Kiln scheduler store, SQLite dialect. Keep in step with ../postgres/0001_init.sql:
-- same tables, columns and meaning; only the type names differ.
-- Keys and digests are raw 32-byte blobs; amounts are u64 stored bit-for-bit in INTEGER.

CREATE TABLE nodes (
    node_id       BLOB PRIMARY KEY,
    receipt_key   BLOB NOT NULL UNIQUE,
    operator      BLOB NOT NULL UNIQUE,
    manifest      BLOB NOT NULL,            -- borsh SignedManifest, as the node signed it
    issued_at     INTEGER NOT NULL,
    stake         INTEGER NOT NULL,
    tier          INTEGER NOT NULL,
    max_jobs      INTEGER NOT NULL,
    reputation    INTEGER NOT NULL,
    online        INTEGER NOT NULL,
    registered_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
);

CREATE TABLE jobs (
    job_id           BLOB PRIMARY KEY,      -- the job's escrow account
    spec             BLOB NOT NULL,         -- borsh JobSpec
    renter           BLOB NOT NULL,
    state            TEXT NOT NULL,
    node_id          BLOB,
    attempt          INTEGER NOT NULL,
    price_fuel       INTEGER,
    price_gpu        INTEGER,
    price_wall       INTEGER,
    node_confirmed   INTEGER NOT NULL,
    renter_confirmed INTEGER NOT NULL,
    proposed_ms      INTEGER,
    submitted_ms     INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL,
    output           BLOB,
    output_digest    BLOB,
    error            TEXT,
    logs             TEXT NOT NULL
);
CREATE INDEX jobs_queue ON jobs (state, submitted_ms, job_id);
CREATE INDEX jobs_node ON jobs (node_id, state);

-- One row per (job, attempt): the primary key is what makes a second
-- assignment of the same attempt impossible, whichever replica tries.
CREATE TABLE assignments (
    job_id  BLOB NOT NULL,
    attempt INTEGER NOT NULL,
    node_id BLOB NOT NULL,
    replica TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE faults (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id  BLOB NOT NULL,
    job_id   BLOB NOT NULL,
    attempt  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    evidence BLOB NOT NULL,                 -- SHA-256 of `detail`
    detail   TEXT NOT NULL,                 -- canonical JSON the digest covers
    at_ms    INTEGER NOT NULL
);
CREATE INDEX faults_node ON faults (node_id);

-- Receipts stay keyed by the node that signed them, so a job moved to
-- another node leaves the first node's co-signed receipts payable to it.
CREATE TABLE receipts (
    job_id    BLOB NOT NULL,
    node      BLOB NOT NULL,
    seq       INTEGER NOT NULL,
    receipt   BLOB NOT NULL,                -- borsh SignedReceipt
    co_signed INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    PRIMARY KEY (job_id, node, seq)
);
