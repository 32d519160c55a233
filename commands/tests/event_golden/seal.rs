//! The golden example of `PeriodSealed` (issue #15). The demo's own seals cover the chain hashes and
//! canonical export of its records, which hold the writer's clock (`recorded_at`), so they differ on
//! every run; the example is a decision on fixed content instead, signed with a real ed25519 key.

use ed25519_dalek::SigningKey;
use ledger::domain::calendar::CalendarVersion;
use ledger::domain::context::DecisionContext;
use ledger::domain::event::Event;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys;
use ledger::domain::rules::{RuleBook, RuleSet};
use ledger::domain::seal::{
    self, EXPORT_FORMAT, PartitionHead, SealContent, SealContext, SealPeriod, SealState,
};
use ledger::domain::signature::SignedBy;
use ledger::domain::testkit::{AcceptAllSignatures, WeekdayCalendar, at, day, fund_bin};
use ledger::domain::values::{DocumentHash, ReportingPeriod};
use ledger_commands::audit::merkle;
use sha2::{Digest, Sha256};

/// The types whose demo example changes from run to run and so comes from here.
pub const NOT_REPRODUCIBLE: [&str; 1] = ["PeriodSealed"];

/// January 2026 in KZ sealed on 1 April: three events on two partitions.
pub fn seal_examples() -> Vec<Event> {
    let hash = |label: &str| -> [u8; 32] { Sha256::digest(label.as_bytes()).into() };
    let leaves = [hash("record 2:5"), hash("record 2:9"), hash("record 5:3")];
    let content = SealContent {
        jurisdiction: Jurisdiction::KZ,
        period: ReportingPeriod::month(2026, 1).unwrap(),
        sealed_at: at("2026-04-01T10:00:00+05:00"),
        events: 3,
        partitions: vec![
            PartitionHead {
                partition: 2,
                records: 10,
                head_offset: 9,
                chain_head: DocumentHash(leaves[1]),
                events: 2,
            },
            PartitionHead {
                partition: 5,
                records: 4,
                head_offset: 3,
                chain_head: DocumentHash(leaves[2]),
                events: 1,
            },
        ],
        merkle_root: DocumentHash(merkle::root(&leaves)),
        export_format: EXPORT_FORMAT.to_owned(),
        export_sha256: DocumentHash(hash("the canonical export")),
        rule_set_version: 1,
        calendar_version: 1,
        price_list_version: Some(1),
    };
    let secret = SigningKey::from_bytes(&[0x5e; 32]);
    let fund = fund_bin();
    let signature = SignedBy {
        key_id: format!("EDS-{fund}-1"),
        signer: fund,
        signature_hex: hex::encode(keys::sign(&secret, &content.document_hash().0)),
    };
    let mut calendar = WeekdayCalendar::kz();
    calendar.version = CalendarVersion(1);
    let rules = RuleBook::new(vec![RuleSet::kz_2025(1, day("2024-12-20"))]).unwrap();
    let decision = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund,
    };
    let context = SealContext {
        decision: &decision,
        observed: &content,
    };
    let command = SealPeriod {
        seal: content.clone(),
        signature,
    };
    seal::decide(&SealState::default(), command, &context).expect("the seal is decided")
}
