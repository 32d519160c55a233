//! `ledger serve` killed mid-load and restarted (issue #16 §1): the real binary takes a pharmacy's
//! dispensings over HTTP from several connections, is SIGKILLed while they arrive, and starts again
//! from its persisted state (checkpoint plus the log after it). Every pack and receipt the log holds
//! is still refused in another month (M-06), and a new pack is still taken.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::serve::{Server, dispensing_envelope, http, pharmacy_token, start, wait_ready};
use common::{dispensings, small_demo};
use ledger::domain::values::{DispensingId, ReportingPeriod};
use ledger_commands::demo::dispense::generate;
use ledger_commands::demo::world::World;

const SEED: u64 = 16;
const CONTRACT: usize = 1;
const LOAD: u64 = 600;
const CONNECTIONS: u64 = 4;

/// Posts the February load from `CONNECTIONS` threads until `stop`; counts the created ones.
fn load(
    world: &Arc<World>,
    address: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
    created: &Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..CONNECTIONS)
        .map(|connection| {
            let (world, address, token) = (Arc::clone(world), address.to_owned(), token.to_owned());
            let (stop, created) = (Arc::clone(stop), Arc::clone(created));
            std::thread::spawn(move || {
                let holder = &world.contracts[CONTRACT];
                let february = ReportingPeriod::month(2026, 2).unwrap();
                for index in (connection..LOAD).step_by(usize::try_from(CONNECTIONS).unwrap()) {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let dispensing = generate(&world, holder, february, index).unwrap();
                    let body = dispensing_envelope(
                        "serve-restart",
                        &holder.contract_id,
                        "2026-02",
                        dispensing,
                    );
                    match http(&address, &token, "POST", "/v1/commands", &body) {
                        Some((201, _)) => {
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        Some((status, body)) => {
                            panic!("a dispensing was answered {status}: {body}")
                        }
                        None => return, // killed mid-request
                    }
                }
            })
        })
        .collect()
}

/// A March dispensing (number `index`) of the pack `first` took in February is refused under M-06,
/// naming `first`.
fn assert_pack_refused(
    world: &World,
    server: &Server,
    token: &str,
    index: u64,
    first: &ledger::domain::period::events::DispensingRecorded,
) {
    let holder = &world.contracts[CONTRACT];
    let march = ReportingPeriod::month(2026, 3).unwrap();
    let mut again = generate(world, holder, march, index).unwrap();
    again.marking_code = first.marking_code.clone();
    let body = dispensing_envelope("serve-restart", &holder.contract_id, "2026-03", again);
    let (status, answer) = http(&server.address, token, "POST", "/v1/commands", &body).unwrap();
    assert_eq!(
        status, 422,
        "pack of {} paid again: {answer}",
        first.dispensing_id
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["rule"], "M-06", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains(first.dispensing_id.as_str()),
        "the refusal names the first dispensing: {answer}"
    );
}

#[test]
fn a_writer_killed_mid_load_still_enforces_m06_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let world = Arc::new(small_demo(&data_dir, SEED));
    let holder = &world.contracts[CONTRACT];
    let jwks_file = dir.path().join("jwks.json");
    let token = pharmacy_token(
        &jwks_file,
        "serve-restart",
        world.contracts[CONTRACT].holder.bin,
    );

    let mut server = start(&data_dir, &jwks_file, &[], &[], None);
    wait_ready(&server, &token);
    let (stop, created) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let loaders = load(&world, &server.address, &token, &stop, &created);
    while created.load(Ordering::Relaxed) < 150 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap(); // SIGKILL, with requests in flight
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.join().unwrap();
    }
    let stream = format!("period/{}/2026-02", holder.contract_id);
    let february = dispensings(&data_dir, &stream);
    assert!(february.len() >= 150, "what was created is in the log");
    assert!(
        february.len() < usize::try_from(LOAD).unwrap(),
        "the writer was killed mid-load"
    );
    assert!(
        data_dir.join("writer-state").join("db").exists(),
        "the writer keeps its state beside the log"
    );

    let server = start(&data_dir, &jwks_file, &[], &[], None);
    wait_ready(&server, &token);
    let march = ReportingPeriod::month(2026, 3).unwrap();
    // The newest dispensings first: they are the ones the killed writer had not yet checkpointed.
    for (index, first) in (0u64..).zip(february.iter().rev().take(40)) {
        assert_pack_refused(&world, &server, &token, 10_000 + index, first);
    }
    let fresh = generate(&world, holder, march, 20_000).unwrap();
    let fresh_id: DispensingId = fresh.dispensing_id.clone();
    let (status, answer) = http(
        &server.address,
        &token,
        "POST",
        "/v1/commands",
        &dispensing_envelope("serve-restart", &holder.contract_id, "2026-03", fresh),
    )
    .unwrap();
    assert_eq!(status, 201, "a new pack is taken ({fresh_id}): {answer}");
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
