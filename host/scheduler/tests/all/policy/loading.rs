//! Loading: only pinned plugins, only allowed imports, only the right world.

use kiln_scheduler::policy::{PolicyKind, PolicyLoadError};

use super::{HOSTILE, PRICE_LOWEST_FLOOR, RANK_DEFAULT, host, plugin};

#[test]
fn a_plugin_whose_hash_is_not_pinned_is_refused() {
    // Given a host that pins only rank-default,
    let (host, _scratch) = host(&[RANK_DEFAULT]);
    // when the locality plugin (or a tampered rank-default) is loaded,
    let other = host.load(PolicyKind::Rank, &plugin(super::RANK_LOCALITY_FIRST));
    let mut tampered = plugin(RANK_DEFAULT);
    tampered.push(0);
    let tampered = host.load(PolicyKind::Rank, &tampered);
    // then both are refused as unpinned, and the pinned one loads.
    assert!(
        matches!(other, Err(PolicyLoadError::NotPinned { .. })),
        "{other:?}"
    );
    assert!(
        matches!(tampered, Err(PolicyLoadError::NotPinned { .. })),
        "{tampered:?}"
    );
    let loaded = host.load(PolicyKind::Rank, &plugin(RANK_DEFAULT)).unwrap();
    assert_eq!(loaded.digest_hex(), super::pin_of(RANK_DEFAULT));
}

#[test]
fn a_component_importing_a_clock_or_files_is_refused_with_the_import_named() {
    // A test workload that reads the clock and files, posing as a policy.
    let (host, _scratch) = host(&["kiln_test_hostile"]);
    let error = host
        .load(PolicyKind::Rank, &plugin("kiln_test_hostile"))
        .unwrap_err();
    let PolicyLoadError::ImportNotAllowed { import } = &error else {
        panic!("expected ImportNotAllowed, got {error:?}");
    };
    assert!(import.starts_with("wasi:clocks/wall-clock@"), "{import}");
}

#[test]
fn a_plugin_of_the_wrong_world_is_refused() {
    let (host, _scratch) = host(&[RANK_DEFAULT, PRICE_LOWEST_FLOOR]);
    let as_pricing = host
        .load(PolicyKind::Pricing, &plugin(RANK_DEFAULT))
        .unwrap_err();
    let as_rank = host
        .load(PolicyKind::Rank, &plugin(PRICE_LOWEST_FLOOR))
        .unwrap_err();
    assert!(
        matches!(
            as_pricing,
            PolicyLoadError::WrongWorld {
                world: "pricing",
                ..
            }
        ),
        "{as_pricing:?}"
    );
    assert!(
        matches!(
            as_rank,
            PolicyLoadError::WrongWorld {
                world: "scheduler",
                ..
            }
        ),
        "{as_rank:?}"
    );
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let (host, _scratch) = host(&[]);
    let not_wasm = host.check_rank_unpinned(b"#!/bin/sh\n").unwrap_err();
    assert!(
        matches!(not_wasm, PolicyLoadError::Component(_)),
        "{not_wasm:?}"
    );
}

#[test]
fn one_component_may_export_both_worlds() {
    // The hostile test plugin does; it loads as either kind.
    let (host, _scratch) = host(&[HOSTILE]);
    host.load(PolicyKind::Rank, &plugin(HOSTILE)).unwrap();
    host.load(PolicyKind::Pricing, &plugin(HOSTILE)).unwrap();
}

#[test]
fn a_pin_that_is_not_a_sha256_is_refused() {
    let error = kiln_scheduler::policy::Pins::from_hex(&["abc"]).unwrap_err();
    assert!(matches!(error, PolicyLoadError::BadPin(_)), "{error:?}");
}
