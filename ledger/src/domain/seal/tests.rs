//! The seal rules by ID (docs/domain.md "Period seals"): SEAL-02, SEAL-03, SEAL-04 and the Fund's
//! signature (S-02, S-03). SEAL-01 concerns the period streams and is tested at the writers
//! (`commands/tests/seal.rs`).

use super::*;
use crate::domain::rules::{RuleBook, RuleSet};
use crate::domain::signature::SignatureCheck;
use crate::domain::testkit::{
    AcceptAllSignatures, Given, RejectAllSignatures, WeekdayCalendar, at, bin, day, signed_by,
};

fn fund() -> crate::domain::ident::Bin {
    bin("90010130000")
}

fn content(sealed_at: &str) -> SealContent {
    SealContent {
        jurisdiction: Jurisdiction::KZ,
        period: ReportingPeriod::month(2026, 1).unwrap(),
        sealed_at: at(sealed_at),
        events: 3,
        partitions: vec![PartitionHead {
            partition: 2,
            records: 10,
            head_offset: 9,
            chain_head: DocumentHash([7; 32]),
            events: 3,
        }],
        merkle_root: DocumentHash([1; 32]),
        export_format: EXPORT_FORMAT.into(),
        export_sha256: DocumentHash([2; 32]),
        rule_set_version: 1,
        calendar_version: 1,
        price_list_version: Some(1),
    }
}

fn decide_with(
    state: &SealState,
    seal: SealContent,
    observed: &SealContent,
    signatures: &dyn SignatureCheck,
) -> Result<Vec<Event>, DomainError> {
    let calendar = WeekdayCalendar::kz();
    let rules = RuleBook::new(vec![RuleSet::kz_2025(1, day("2024-12-20"))]).unwrap();
    let decision = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures,
        fund_bin: fund(),
    };
    let context = SealContext {
        decision: &decision,
        observed,
    };
    let command = SealPeriod {
        seal,
        signature: signed_by(fund()),
    };
    decide(state, command, &context)
}

#[test]
fn a_seal_of_what_the_log_holds_signed_by_the_fund_is_appended() {
    let seal = content("2026-04-01T10:00:00+05:00");
    let events = Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, seal.clone(), &seal, &AcceptAllSignatures))
        .then_expect_types(&["PeriodSealed"]);
    let Event::PeriodSealed(sealed) = &events[0] else {
        unreachable!()
    };
    assert_eq!(sealed.seal, seal);
    assert_eq!(sealed.signature.document_hash, seal.document_hash());
    assert_eq!(sealed.signature.signer, fund());
}

#[test]
fn seal02_a_month_is_sealed_once() {
    let seal = content("2026-04-01T10:00:00+05:00");
    let first = decide_with(
        &SealState::default(),
        seal.clone(),
        &seal,
        &AcceptAllSignatures,
    )
    .unwrap();
    Given::new(SealState::default(), evolve, &first)
        .when(|state| decide_with(state, seal.clone(), &seal, &AcceptAllSignatures))
        .then_expect_error("SEAL-02");
}

#[test]
fn seal03_only_a_month_that_has_ended_in_local_time() {
    // 31 January 20:00 UTC is 1 February 01:00 in Almaty: the month is over there.
    let over = content("2026-01-31T20:00:00Z");
    decide_with(
        &SealState::default(),
        over.clone(),
        &over,
        &AcceptAllSignatures,
    )
    .unwrap();
    // 31 January 18:00 UTC is 23:00 in Almaty, still January.
    let running = content("2026-01-31T18:00:00Z");
    let error = Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, running.clone(), &running, &AcceptAllSignatures))
        .then_expect_error("SEAL-03");
    assert!(error.to_string().contains("2026-01-31"), "{error}");
}

#[test]
fn seal04_every_field_must_match_the_log() {
    let seal = content("2026-04-01T10:00:00+05:00");
    let mut observed = seal.clone();
    observed.merkle_root = DocumentHash([9; 32]);
    let error = Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, seal.clone(), &observed, &AcceptAllSignatures))
        .then_expect_error("SEAL-04");
    assert!(error.to_string().contains("merkle_root"), "{error}");
    let mut observed = seal.clone();
    observed.partitions[0].records = 11;
    Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, seal.clone(), &observed, &AcceptAllSignatures))
        .then_expect_error("SEAL-04");
    let mut observed = seal.clone();
    observed.price_list_version = Some(2);
    Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, seal.clone(), &observed, &AcceptAllSignatures))
        .then_expect_error("SEAL-04");
}

#[test]
fn s02_s03_the_seal_is_signed_by_the_fund_with_a_valid_key() {
    let seal = content("2026-04-01T10:00:00+05:00");
    Given::new(SealState::default(), evolve, &[])
        .when(|state| decide_with(state, seal.clone(), &seal, &RejectAllSignatures))
        .then_expect_error("S-02");
    let calendar = WeekdayCalendar::kz();
    let rules = RuleBook::new(vec![RuleSet::kz_2025(1, day("2024-12-20"))]).unwrap();
    let decision = DecisionContext {
        calendar: &calendar,
        rules: &rules,
        signatures: &AcceptAllSignatures,
        fund_bin: fund(),
    };
    let command = SealPeriod {
        seal: seal.clone(),
        signature: signed_by(bin("21074048697")),
    };
    let context = SealContext {
        decision: &decision,
        observed: &seal,
    };
    let error = decide(&SealState::default(), command, &context).unwrap_err();
    assert_eq!(error.rule(), "S-03", "{error}");
}
