//! The event feed of `ledger read` with a client no one here wrote (issue #14 §6): Python's standard
//! `http.client` reads `/v1/events` as Server-Sent Events over HTTPS with a client certificate from
//! the real reader on the embedded log, beside the real writer; it is disconnected mid-stream,
//! resumes with `Last-Event-ID` while the writer appends, and ends with every event of the log
//! exactly once (`tests/python/sse_resume.py`). The feed's guards are checked here too: a
//! pharmacy's feed carries its own contracts' events and nothing else, another contract is 403.

mod common;
mod read_http;

use std::collections::BTreeSet;
use std::process::Command;

use read_http::{World, feed_until_idle, get, log_event_ids};

const DISPENSINGS: usize = 6;

#[test]
fn a_python_sse_client_resumes_with_last_event_id_and_sees_every_event_once() {
    let world = World::new();
    let views = world.dir.path().join("read-views");
    let reader = world.reader(&views, &["--heartbeat-seconds", "1"]);
    let writer = world.writer();
    let initial = log_event_ids(&world.data()).len();
    let out = world.dir.path().join("seen.json");
    let pki = |name: &str| world.pki(name).to_str().unwrap().to_owned();
    let config = serde_json::json!({
        "reader": reader.address,
        "writer": writer.address,
        "ca": pki("ca.pem"),
        "fund_cert": pki("clients/fund.pem"),
        "fund_key": pki("clients/fund-key.pem"),
        "pharmacy_cert": pki("clients/KZ-001.pem"),
        "pharmacy_key": pki("clients/KZ-001-key.pem"),
        "dispensing": pki("dispensing.json"),
        "initial_events": initial,
        "dispensings": DISPENSINGS,
        "out": out.to_str().unwrap(),
    });
    let config_path = world.dir.path().join("sse.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let python = common::python::python();
    let output = Command::new(python)
        .arg(common::python::scripts().join("sse_resume.py"))
        .arg(&config_path)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(report.contains("ok: heartbeat"), "{report}");
    let seen: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let logged = log_event_ids(&world.data());
    assert_eq!(
        logged.len(),
        initial + DISPENSINGS,
        "each dispensing is one event"
    );
    let seen_set: BTreeSet<&String> = seen.iter().collect();
    let logged_set: BTreeSet<&String> = logged.iter().collect();
    assert_eq!(seen.len(), logged.len(), "{report}");
    assert_eq!(
        seen_set, logged_set,
        "the feed delivered exactly the log's events"
    );
    assert!(writer.stop(), "the writer stops cleanly on SIGTERM");
    assert!(
        reader.stop(),
        "the reader stops cleanly on SIGTERM, its feeds closed"
    );
}

/// Every event of contract `KZ-001` (its contract, period and dispute streams) and of its holder's
/// key stream, by id, read from the log.
fn own_events(world: &World, holder: &str) -> BTreeSet<String> {
    let output = common::ledger(
        &world.data(),
        &["history", "--contract", "KZ-001", "--format", "json"],
    );
    assert!(output.status.success());
    let mut ids: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let keys = format!("keys/{holder}");
    let output = common::ledger(
        &world.data(),
        &["history", "--stream", &keys, "--format", "json"],
    );
    assert!(output.status.success());
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        ids.insert(event["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[test]
fn a_pharmacy_feed_carries_its_own_contracts_and_nothing_else() {
    let world = World::new();
    let reader = world.reader(
        &world.dir.path().join("read-views"),
        &["--heartbeat-seconds", "1"],
    );
    let pharmacy = world.client(Some("KZ-001"));
    let (answer, events) = feed_until_idle(&pharmacy, &reader.address, "/v1/events", &[]);
    assert_eq!(answer.status, 200);
    let holder = events
        .iter()
        .find(|event| event["subject"] == "contract/KZ-001")
        .map(|event| {
            event["data"]["applicant"]["PharmacyCompany"]["bin"]
                .as_str()
                .expect("KZ-001 is a pharmacy company")
                .to_owned()
        })
        .expect("the pharmacy sees its own contract");
    let seen: BTreeSet<String> = events
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), events.len(), "each event once");
    assert_eq!(
        seen,
        own_events(&world, &holder),
        "exactly its own contract's and keys' events"
    );
    for event in &events {
        let subject = event["subject"].as_str().unwrap();
        assert!(
            subject.starts_with("contract/KZ-001")
                || subject.starts_with("period/KZ-001/")
                || subject == format!("keys/{holder}"),
            "{subject}"
        );
    }
    // Another contract, asked for by name: refused, nothing sent.
    for path in [
        "/v1/events?contract=KZ-002",
        "/v1/contracts/KZ-002",
        "/v1/history?contract=KZ-002",
    ] {
        let answer = get(&pharmacy, &reader.address, path, &[]).unwrap();
        assert_eq!(answer.status, 403, "{path}: {}", answer.text());
        assert_eq!(answer.json()["rule"], "POLICY-DENY");
        assert!(answer.text().contains("KZ-002"), "{}", answer.text());
        assert!(answer.header("x-ledger-checkpoint").is_some(), "{path}");
    }
    // Filters narrow the feed further; a filter on its own contract reads only its partition.
    let (_, dispensings) = feed_until_idle(
        &pharmacy,
        &reader.address,
        "/v1/events?contract=KZ-001&type=DispensingRecorded&period=2026-01",
        &[],
    );
    assert!(!dispensings.is_empty());
    assert!(dispensings.iter().all(|event| event["type"]
        == "org.pharmacy-copayment.ledger.DispensingRecorded.v1"
        && event["subject"] == "period/KZ-001/2026-01"));
    // No certificate: 401.
    let anonymous = world.client(None);
    let answer = get(&anonymous, &reader.address, "/v1/events", &[]).unwrap();
    assert_eq!(answer.status, 401);
}

#[test]
fn analysts_read_the_feed_with_patients_pseudonymized() {
    let world = World::new();
    let reader = world.reader(
        &world.dir.path().join("read-views"),
        &["--heartbeat-seconds", "1"],
    );
    let anonymous = world.client(None);
    let bearer = format!("Bearer {}", world.token("analyst"));
    let (answer, events) = feed_until_idle(
        &anonymous,
        &reader.address,
        "/v1/events?type=DispensingRecorded",
        &[("Authorization", &bearer)],
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let fund = world.client(Some("fund"));
    let (_, clear) = feed_until_idle(
        &fund,
        &reader.address,
        "/v1/events?type=DispensingRecorded",
        &[],
    );
    assert_eq!(events.len(), clear.len(), "analysts see every event");
    for (pseudonymized, clear) in events.iter().zip(&clear) {
        assert_eq!(pseudonymized["id"], clear["id"]);
        let iin = clear["data"]["patient_iin"].as_str().unwrap();
        let pseudonym = pseudonymized["data"]["patient_iin"].as_str().unwrap();
        assert!(
            pseudonym.starts_with("P-") && pseudonym != iin,
            "{pseudonym}"
        );
        assert!(
            !pseudonymized.to_string().contains(iin),
            "the IIN {iin} leaked"
        );
    }
    // The same patient is the same pseudonym (joins still work).
    let patients: BTreeSet<&str> = clear
        .iter()
        .map(|event| event["data"]["patient_iin"].as_str().unwrap())
        .collect();
    let pseudonyms: BTreeSet<&str> = events
        .iter()
        .map(|event| event["data"]["patient_iin"].as_str().unwrap())
        .collect();
    assert_eq!(patients.len(), pseudonyms.len());
}

/// The Rust subscriber of docs/subscribing.md: `ureq` (a dependency of the ledger already), a client
/// certificate, the feed read line by line, resumable with the last `id:`.
mod example {
    use std::io::BufRead;

    /// Follows `url` (`…/v1/events`) from `last_event_id`, calling `apply` with each event's feed
    /// position and its CloudEvent until `apply` says stop; returns the position to resume from.
    pub fn follow(
        url: &str,
        pem: (&[u8], &[u8], &[u8]), // the CA, the client certificate, its key
        last_event_id: Option<&str>,
        mut apply: impl FnMut(&str, serde_json::Value) -> bool,
    ) -> Result<Option<String>, Box<dyn std::error::Error>> {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let (ca, cert, key) = pem;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&[Certificate::from_pem(ca)?]))
            .client_cert(Some(ClientCert::new_with_certs(
                &[Certificate::from_pem(cert)?],
                PrivateKey::from_pem(key)?,
            )))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
        let mut request = agent.get(url).header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.call()?;
        let lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
        let (mut id, mut resume) = (None, last_event_id.map(str::to_owned));
        for line in lines {
            let line = line?;
            if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_owned());
            } else if let Some(data) = line.strip_prefix("data: ") {
                resume = id.take();
                // Apply idempotently per (subject, sequence), then store `resume` with your state.
                if !apply(
                    resume.as_deref().unwrap_or_default(),
                    serde_json::from_str(data)?,
                ) {
                    break;
                }
            }
        }
        Ok(resume)
    }
}

#[test]
fn the_rust_example_follows_and_resumes_the_feed() {
    let world = World::new();
    let reader = world.reader(&world.dir.path().join("read-views"), &[]);
    let url = format!("https://localhost:{}/v1/events", reader.port());
    let read = |name: &str| std::fs::read(world.pki(name)).unwrap();
    let (ca, cert, key) = (
        read("ca.pem"),
        read("clients/fund.pem"),
        read("clients/fund-key.pem"),
    );
    let total = log_event_ids(&world.data()).len();
    let mut seen = Vec::new();
    let first = example::follow(&url, (&ca, &cert, &key), None, |_, event| {
        seen.push(event["id"].as_str().unwrap().to_owned());
        seen.len() < total / 3
    })
    .unwrap();
    let resumed = example::follow(&url, (&ca, &cert, &key), first.as_deref(), |_, event| {
        seen.push(event["id"].as_str().unwrap().to_owned());
        seen.len() < total
    })
    .unwrap();
    assert!(resumed.is_some());
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (total, total),
        "each event once"
    );
    let logged = log_event_ids(&world.data());
    assert_eq!(unique, logged.iter().collect());
}
