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
