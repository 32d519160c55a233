//! A deterministic generator of realistic domain event sequences: contracts concluded, a month of
//! dispensings per period with reversals, the registry cycle (with rejections and resubmissions), the
//! payment act, suspended payment clocks, partial payments and the budget lines they charge.
//!
//! For tests (the views against a plain fold), replays and the projection benchmark. Events are
//! constructed directly rather than decided (deciding a million dispensings through the aggregate is
//! the command side's job and benchmark), but every value passes its domain constructor and every
//! sequence is one the aggregates accept (signatures are placeholders: views do not verify them).
//!
//! One `u64` seed drives everything (STYLE §2.7); the generator uses its own SplitMix64, so the same
//! seed gives the same events on every platform and build.

use chrono::{Datelike, Days, NaiveDate};
use ledger::domain::budget::{
    BudgetAllocated, BudgetCommitted, BudgetPaid, BudgetTransferredToFund, ServiceMonth,
};
use ledger::domain::calendar::{CalendarVersion, deadline_end};
use ledger::domain::clock::{ClockRule, Deadline};
use ledger::domain::contract::events::{
    Applicant, ContractApplicationReceived, ContractConcluded, ContractTerm, NetworkPharmacy,
};
use ledger::domain::event::Event;
use ledger::domain::ident::{Bin, Iin, check_digit};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::events::{
    ActRow, DispensingRecorded, DispensingReversed, PaymentActReceived, PaymentActSigned,
    PaymentActSubmitted, PaymentClockResumed, PaymentClockSuspended, PaymentMade, RegistryApproved,
    RegistryReceived, RegistryRejected, RegistrySubmitted, SuspensionReason,
};
use ledger::domain::prices::ProductKey;
use ledger::domain::region::{Programme, Region};
use ledger::domain::rules::{LineAmounts, PriceType};
use ledger::domain::signature::Signature;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{
    ContractId, DispensingId, DocumentHash, DocumentNumber, DoseForm, FiscalReceipt, Icd10,
    InnName, MarkingCode, OrganisationName, PharmacyLicence, PrescriptionRef, ReportingPeriod,
    TradeName, UnitOfMeasure,
};
use ledger::log::StreamId;

/// The KZ regions the generator spreads pharmacies over (KATO codes).
const REGIONS: [&str; 6] = [
    "710000000",
    "750000000",
    "790000000",
    "350000000",
    "550000000",
    "150000000",
];
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleConfig {
    pub seed: u64,
    pub contracts: u32,
    /// Consecutive months from January 2026.
    pub periods: u32,
    pub dispensings_per_period: u32,
    /// Run the registry, act and payment cycle (and budgets) after the dispensings.
    pub lifecycle: bool,
}

/// One generated fact and the stream it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEvent {
    pub stream: StreamId,
    pub event: Event,
}

/// SplitMix64: tiny, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "empty range");
        self.next() % bound
    }

    /// True with probability 1 / `one_in`.
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// Generates the events of `config`, in an order the log accepts (per contract: contract stream, then
/// its periods in order; budget events after the payments they mirror), handing each to `sink`.
pub fn generate(config: SampleConfig, mut sink: impl FnMut(SampleEvent)) {
    let mut rng = Rng(config.seed);
    if config.lifecycle {
        contract::allocate(&mut sink);
    }
    for index in 0..config.contracts {
        let contract = Contract::new(index, &mut rng);
        contract.conclude(&mut sink);
        for month in 0..config.periods {
            let period = month_period(month);
            let dispensed =
                contract.dispense(period, config.dispensings_per_period, &mut rng, &mut sink);
            if config.lifecycle && !dispensed.is_empty() {
                contract.lifecycle(period, &dispensed, &mut rng, &mut sink);
                contract.budget(period, &dispensed, &mut sink);
            }
        }
    }
}

/// Every generated event in memory (tests).
pub fn events(config: SampleConfig) -> Vec<SampleEvent> {
    let mut events = Vec::new();
    generate(config, |event| events.push(event));
    events
}

fn month_period(month: u32) -> ReportingPeriod {
    let year = 2026 + i32::try_from(month / 12).expect("few months");
    ReportingPeriod::month(year, month % 12 + 1).expect("valid month")
}

fn stream(text: String) -> StreamId {
    StreamId::new(text).expect("generated stream ids are valid")
}

/// A valid 12-digit identifier (BIN or IIN) from 11 digits.
fn ident_digits(first_eleven: u64) -> String {
    let digits = format!("{:011}", first_eleven % 100_000_000_000);
    let mut array = [0u8; 11];
    for (slot, byte) in array.iter_mut().zip(digits.bytes()) {
        *slot = byte - b'0';
    }
    match check_digit(&array) {
        Some(check) => format!("{digits}{check}"),
        // A rare digit string has no check digit: take the next one.
        None => ident_digits(first_eleven + 1),
    }
}

fn bin(first_eleven: u64) -> Bin {
    ident_digits(first_eleven)
        .parse()
        .expect("check digit computed")
}

fn iin(first_eleven: u64) -> Iin {
    ident_digits(first_eleven)
        .parse()
        .expect("check digit computed")
}

fn kz_local(date: NaiveDate, minute_of_day: i64) -> Timestamp {
    // The end of the previous local day plus the minutes: independent of the zone arithmetic.
    let start = deadline_end(Jurisdiction::KZ, date.pred_opt().expect("date in range")).micros()
        + 1_000_000;
    Timestamp::from_micros(start + minute_of_day * MICROS_PER_MINUTE)
}

fn deadline(rule: ClockRule, started_on: NaiveDate, days: u64) -> Deadline {
    let due = started_on + Days::new(days);
    let rolled = match due.weekday() {
        chrono::Weekday::Sat => due + Days::new(2),
        chrono::Weekday::Sun => due + Days::new(1),
        _ => due,
    };
    Deadline {
        rule,
        calendar_version: CalendarVersion(1),
        started_on,
        due_strict: due,
        due: rolled,
    }
}

fn signature(signer: Bin, document_hash: DocumentHash) -> Signature {
    Signature {
        key_id: format!("keys/{signer}"),
        signer,
        signature_hex: "ab".repeat(64),
        document_hash,
    }
}

fn kzt(minor: i64) -> Money {
    Money::new(minor, Currency::KZT)
}

fn number(text: String) -> DocumentNumber {
    DocumentNumber::new(text).expect("generated document numbers are valid")
}

mod contract;

use contract::Contract;
