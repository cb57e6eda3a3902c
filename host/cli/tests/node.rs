//! `kiln node keys` and `kiln node status` through the real binary.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use kiln_node::status::{JobStatus, NodeStatus};

fn kiln(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("kiln runs")
}

#[test]
fn node_keys_are_created_0600_and_a_readable_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = kiln(&["node", "keys", "--dir", data, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys["node_id"].as_str().unwrap().len(), 64);
    for file in [
        kiln_node::keys::NODE_KEY_FILE,
        kiln_node::keys::SEAL_KEY_FILE,
    ] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // The same keys on the next run.
    let again = kiln(&["node", "keys", "--dir", data, "--json"]);
    assert_eq!(again.stdout, out.stdout);

    let key = dir.path().join(kiln_node::keys::NODE_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = kiln(&["node", "keys", "--dir", data]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("mode 0644") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

#[test]
fn node_status_prints_the_agents_snapshot_and_says_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let missing = kiln(&["node", "status", "--dir", data]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is `kiln node run"));

    let snapshot = NodeStatus {
        node_id: "ab".repeat(32),
        state: "EXECUTING".into(),
        scheduler: "http://127.0.0.1:7400".into(),
        link_sessions: 2,
        linked: true,
        jobs: vec![JobStatus {
            job: "cd".repeat(32),
            attempt: 1,
            fuel: 123,
            gpu_ns: 456,
            wall_ms: 789,
            co_signed: 10,
            paused: false,
        }],
        jobs_done: 3,
        earned_co_signed: 42,
        updated_ms: 0,
    };
    snapshot
        .write(&dir.path().join(kiln_node::config::STATUS_FILE))
        .unwrap();
    let out = kiln(&["node", "status", "--dir", data]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EXECUTING"), "{text}");
    assert!(
        text.contains("up to http://127.0.0.1:7400 (2 sessions)"),
        "{text}"
    );
    assert!(
        text.contains("3 jobs; co-signed earnings 42 lamports"),
        "{text}"
    );
    assert!(text.contains("fuel 123 gpu 456 ns wall 789 ms"), "{text}");
    let json = kiln(&["node", "status", "--dir", data, "--json"]);
    let parsed: NodeStatus = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed, snapshot);
}
