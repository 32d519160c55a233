//! The demo's KG part on a real embedded log, one test per rule it shows.

use std::sync::Arc;

use ledger::log::EventLog;
use ledger::log::file::{Durability, FileLog, FileLogOptions};

use ledger::domain::kg::decide_publish;
use ledger::domain::values::ReportingPeriod;

use super::*;
use crate::demo::signing::Signers;

/// A fresh engine on an embedded log in `dir`, and a world with four KG pharmacies.
fn engine(dir: &std::path::Path) -> (Engine, World) {
    let options = FileLogOptions {
        durability: Durability::NoSync,
        ..FileLogOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(FileLog::open(dir, options).unwrap());
    let world = World::generate(11, 1, 4, 5);
    let fund_bin = world.contracts[0].holder.bin;
    let engine = Engine::new(log, 11, fund_bin, Signers::generate(11, [fund_bin])).unwrap();
    (engine, world)
}

/// `months` demo months from January 2026.
fn periods(months: u32) -> Vec<ReportingPeriod> {
    let demo = crate::demo::DemoOptions {
        months,
        ..crate::demo::DemoOptions::default()
    };
    crate::demo::months(&demo).unwrap()
}

/// The KG contracts alone over `months` months from January 2026, on a fresh embedded log.
async fn kg_part(dir: &std::path::Path, months: u32) -> summary::KgSummary {
    let (engine, world) = engine(dir);
    let periods = periods(months);
    setup(&engine, &world, periods[0].first_day())
        .await
        .unwrap();
    decide_renewals(&engine, &world, periods.last().unwrap().last_day())
        .await
        .unwrap();
    summary::summarise(&engine, &world, &periods).await.unwrap()
}

/// C-08, A-22: a year of demo months reaches the anniversary: the contracts without an objection
/// are renewed for a second year, the objected one expires; fewer months decide nothing.
#[tokio::test]
async fn c08_a22_renewal_where_the_months_reach_the_anniversary() {
    let dir = tempfile::tempdir().unwrap();
    let year = kg_part(dir.path(), 12).await;
    assert_eq!((year.concluded, year.refused, year.objections), (3, 1, 1));
    assert_eq!((year.renewed, year.expired), (2, 1));
    let statuses: Vec<&str> = year.contracts.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["renewed", "refused", "expired", "renewed"]);
    assert_eq!(
        year.contracts[0].term_starts_on,
        NaiveDate::from_ymd_opt(2026, 12, 3),
        "the second term starts the day after the first ends"
    );
    let dir = tempfile::tempdir().unwrap();
    let month = kg_part(dir.path(), 11).await;
    assert_eq!((month.renewed, month.expired), (0, 0));
}

/// E-10, C-09, D-10, A-23: the pharmacy with tax debts is not concluded; its refusal names the
/// debts and is sent within 3 calendar days of the application.
#[tokio::test]
async fn e10_a23_tax_debts_refused_with_reasons_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let kg = kg_part(dir.path(), 1).await;
    let refused = &kg.contracts[1];
    assert_eq!(refused.status, "refused");
    assert_eq!(kg.refused_on_time, 1);
    assert!(refused.refused_on <= refused.refusal_due);
    assert!(refused.refusal_reasons[0].starts_with("E-10"));
    assert_eq!(refused.term_starts_on, None, "never concluded");
}

/// M-10, A-16: the demo's book passes the publication checks and prices per unit.
#[test]
fn m10_a16_demo_reference_book_is_publishable() {
    let world = World::generate(3, 1, 4, 5);
    let first = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    let book = reference_book(&world, first).unwrap();
    let published = decide_publish(&ReferenceBooks::new(), book.clone()).unwrap();
    assert_eq!(published.entries.len(), world.kg_drugs.len());
    assert!(book.published_on < book.effective_from);
    let inhaler = book
        .entries
        .iter()
        .find(|entry| entry.unit == "ингалятор")
        .unwrap();
    assert_eq!(inhaler.package_size, 1);
}

#[test]
fn every_kg_path_is_scripted_for_four_pharmacies() {
    let scripts: Vec<KgScript> = (0..4).map(script).collect();
    assert_eq!(
        scripts,
        [
            KgScript::Concluded,
            KgScript::RefusedForTaxDebts,
            KgScript::ConcludedThenObjected,
            KgScript::Concluded
        ]
    );
}

#[test]
fn kg_local_is_bishkek_time() {
    let at = kg_local(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(), 23);
    assert_eq!(
        ledger::domain::calendar::local_date(Jurisdiction::KG, at),
        NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()
    );
    assert_eq!(at.to_string(), "2026-01-31T17:00:00Z");
}

/// Issue #17 at a small volume: a month of KG sales by PIN within the Reference Book, every case
/// drawn (M-18, M-14, M-15, A-18) recorded and every refusal (D-11, R-03, E-08, V-03, O-01) counted
/// and absent from the log; December (the contracts' first month, no sales) and January settled:
/// one report rejected, corrected and resubmitted (P-09), one recovery offset, one dispute in
/// its window resolved and one late claim refused; every approved net paid.
#[tokio::test]
async fn kg_month_at_volume_recorded_refused_and_settled() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, world) = engine(dir.path());
    let periods = periods(1);
    setup(&engine, &world, periods[0].first_day())
        .await
        .unwrap();
    let recorded = dispense::dispense_month(&engine, &world, periods[0], 900, None)
        .await
        .unwrap();
    let december = settle::month_before(periods[0]).unwrap();
    for period in [december, periods[0]] {
        settle::settle_month(&engine, &world, period, periods[0])
            .await
            .unwrap();
    }
    let kg = summary::summarise(&engine, &world, &periods).await.unwrap();
    assert_eq!(u64::from(kg.dispensings), recorded - 1, "one line reversed");
    for rule in ["D-11", "R-03", "E-08", "V-03", "O-01"] {
        assert!(
            kg.refused_dispensings
                .get(rule)
                .is_some_and(|count| *count > 0),
            "{rule}: {kg:?}"
        );
    }
    let refused: u32 = kg.refused_dispensings.values().sum();
    assert_eq!(
        u64::from(refused) + recorded,
        900,
        "every drawn sale is recorded or refused"
    );
    for case in [
        "M-18 substituted",
        "M-14 over the course dose",
        "M-15 capped",
        "A-18 partial",
    ] {
        assert!(
            kg.cases.get(case).is_some_and(|count| *count > 0),
            "{case}: {:?}",
            kg.cases
        );
    }
    assert_eq!(kg.cases.get("P-09 reversed"), Some(&1));
    check_settlement(&kg);
}

/// The counts of the settlements of December and January (see above).
fn check_settlement(kg: &summary::KgSummary) {
    let settlement = &kg.settlement;
    assert_eq!(
        (
            settlement.reports,
            settlement.rejected,
            settlement.resubmitted,
            settlement.approved
        ),
        (6, 1, 1, 6),
        "December and January of three contracts"
    );
    assert_eq!((settlement.recoveries_assessed, settlement.offsets), (1, 1));
    assert_eq!(settlement.offset, settlement.recovered);
    assert_eq!(
        (settlement.disputes_filed, settlement.disputes_resolved),
        (1, 1)
    );
    assert_eq!(settlement.refused_claims.get("A-27"), Some(&1));
    assert_eq!(
        kg.paid.minor + settlement.offset.minor,
        kg.reimbursement.minor,
        "every approved net is paid; the recovery is offset"
    );
    assert!(
        kg.contracts[1].periods.is_empty(),
        "the refused pharmacy dispenses nothing"
    );
    let december = &kg.contracts[0].periods[0];
    assert_eq!((december.lines, december.report.as_str()), (0, "approved"));
}
