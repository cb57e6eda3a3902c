//! `kiln policy check FILE`: a real plugin passes and prints what to pin; a
//! workload posing as a plugin is refused with the import named.

use std::process::Command;

fn check(name: &str) -> (bool, String) {
    let path = kiln_test_guests::guest_path(name);
    let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["policy", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn a_ranking_plugin_passes_and_its_pin_is_printed() {
    let (ok, text) = check("kiln_plugin_rank_default");
    assert!(ok, "{text}");
    assert!(
        text.contains("scheduler world: rank over 8 sample candidates"),
        "{text}"
    );
    let digest = kiln_protocol::sha256(&[&kiln_test_guests::guest("kiln_plugin_rank_default")]);
    assert!(
        text.contains(&format!("--policy-pin {}", hex::encode(digest.0))),
        "{text}"
    );
}

#[test]
fn a_pricing_plugin_passes_with_its_quote_and_flags() {
    let (ok, text) = check("kiln_plugin_price_guard");
    assert!(ok, "{text}");
    assert!(
        text.contains("pricing world: clear (chosen 0) -> Rates"),
        "{text}"
    );
    assert!(text.contains("pricing world: screen ->"), "{text}");
}

#[test]
fn a_plugin_exporting_both_worlds_is_checked_as_both() {
    // The hostile test plugin behaves on the sample (its commands are region
    // names the sample does not use) and exports both worlds.
    let (ok, text) = check("kiln_test_hostile_policy");
    assert!(ok, "{text}");
    assert!(text.contains("scheduler world: rank"), "{text}");
    assert!(text.contains("pricing world: clear"), "{text}");
}

#[test]
fn a_workload_is_not_a_plugin() {
    let (ok, text) = check("kiln_test_hostile");
    assert!(!ok, "{text}");
    assert!(text.contains("wasi:clocks/wall-clock"), "{text}");
}

#[test]
fn check_json_reports_each_world_and_what_is_not_a_plugin() {
    let run = |name: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["policy", "check", "--json"])
            .arg(kiln_test_guests::guest_path(name))
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
        (output.status.success(), report)
    };
    let (ok, both) = run("kiln_test_hostile_policy");
    assert!(ok, "{both:#}");
    assert_eq!(both["ok"], true);
    assert_eq!(both["scheduler"]["candidates"], 8);
    assert_eq!(
        both["scheduler"]["answer"].as_array().unwrap().len(),
        8,
        "{both:#}"
    );
    assert!(
        both["pricing"]["clear"]["answer"]["per_million_fuel"].is_u64(),
        "{both:#}"
    );
    assert!(both["pricing"]["screen"]["answer"].is_array(), "{both:#}");
    let digest = kiln_protocol::sha256(&[&kiln_test_guests::guest("kiln_test_hostile_policy")]);
    assert_eq!(both["sha256"], hex::encode(digest.0));

    let (ok, workload) = run("kiln_test_hostile");
    assert!(!ok, "{workload:#}");
    assert_eq!(workload["ok"], false);
    assert!(
        workload["not_a_plugin"]
            .to_string()
            .contains("wasi:clocks/wall-clock"),
        "{workload:#}"
    );
}

/// `kiln scheduler serve` with two pinned plugins and an admin token, then
/// `kiln scheduler policy set` against it: the pinned plugin is swapped in
/// without a restart, an unpinned one is refused.
#[test]
fn policy_set_swaps_a_pinned_plugin_in_a_running_scheduler() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "s3cret-admin-token\n").unwrap();
    let pin = |name: &str| hex::encode(kiln_protocol::sha256(&[&kiln_test_guests::guest(name)]).0);
    let database = format!("sqlite://{}", dir.path().join("scheduler.db").display());
    let mut server = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "scheduler",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--json",
        ])
        .args(["--policy-pin", &pin("kiln_plugin_rank_default")])
        .args(["--policy-pin", &pin("kiln_plugin_rank_locality_first")])
        .arg("--rank-policy")
        .arg(kiln_test_guests::guest_path("kiln_plugin_rank_default"))
        .arg("--admin-token-file")
        .arg(&token)
        // The policy runtime's scratch root goes under the cache home.
        .env("XDG_CACHE_HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["event"], "listening", "{line:?}");
    let address = ready["address"].as_str().unwrap().to_owned();

    let set = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args([
                "scheduler",
                "policy",
                "set",
                "--json",
                "--scheduler",
                &address,
            ])
            .arg("--rank")
            .arg(kiln_test_guests::guest_path(name))
            .arg("--admin-token-file")
            .arg(&token)
            .output()
            .unwrap()
    };
    let swapped = set("kiln_plugin_rank_locality_first");
    let refused = set("kiln_plugin_price_guard");
    server.kill().unwrap();
    server.wait().unwrap();

    // Killed, the scheduler left its policy runtime's scratch directory; the
    // next runtime on the same root (here `kiln run`) removes it.
    let scratch_root = dir.path().join("kiln/scratch");
    let left = format!("kiln-rt-{}-", server.id());
    let runtime_dirs = || -> Vec<String> {
        std::fs::read_dir(&scratch_root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        runtime_dirs().iter().any(|name| name.starts_with(&left)),
        "{:?}",
        runtime_dirs()
    );
    let run = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .arg(kiln_test_guests::guest_path("kiln_example_sha256"))
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !runtime_dirs().iter().any(|name| name.starts_with(&left)),
        "{:?}",
        runtime_dirs()
    );

    let out = String::from_utf8_lossy(&swapped.stdout);
    assert!(
        swapped.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&swapped.stderr)
    );
    let swapped: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        swapped["rank"]["sha256"],
        pin("kiln_plugin_rank_locality_first"),
        "{out}"
    );
    assert!(swapped.get("pricing").is_none(), "{out}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("HTTP 403") && err.contains("not_pinned"),
        "{err}"
    );
}
