//! A whole KZ world for tests and scenario files: the contract, the price list and the periods of one
//! contract, decided and folded exactly as the command handler would.

use std::collections::BTreeMap;

use super::*;
use crate::domain::context::DecisionContext;
use crate::domain::contract::events::{
    Applicant, ConsortiumAgreement, ConsortiumMember, ContractTerm, NetworkPharmacy,
};
use crate::domain::contract::{
    self, ContractCommand, ContractState, ReceiveApplication, ReviewApplication,
};
use crate::domain::money::{Currency, Money, Quantity, UnitPrice, line_amount};
use crate::domain::period::{
    self, PeriodCommand, PeriodContext, PeriodState, RecordDispensing, ReimbursedIndex,
};
use crate::domain::prices::{self, PriceEntry, PriceListState, ProductKey, PublishPriceList};
use crate::domain::region::{Programme, Region};
use crate::domain::rules::{PriceType, RuleBook, RuleParameters, RuleSet};
use crate::domain::values::{
    ContractId, DispensingId, DocumentNumber, DoseForm, FiscalReceipt, Icd10, InnName, MarkingCode,
    OrganisationName, PharmacyLicence, PrescriptionRef, ReportingPeriod, TechnicalCharacteristic,
    TradeName, UnitOfMeasure,
};

/// The KZ regions used by fixtures (KATO): Astana, Almaty, Shymkent, Karaganda, Pavlodar, Aktobe.
pub const FIXTURE_REGIONS: [&str; 6] = [
    "710000000",
    "750000000",
    "790000000",
    "350000000",
    "550000000",
    "150000000",
];

pub fn fund_bin() -> Bin {
    bin("99034000001")
}

pub fn holder_bin() -> Bin {
    bin("05014000001")
}

/// The n-th consortium member's BIN (n < 100).
pub fn member_bin(n: u32) -> Bin {
    bin(&format!("060140001{n:02}"))
}

pub fn stranger_bin() -> Bin {
    bin("07014000777")
}

pub fn region(code: &str) -> Region {
    Region::new(Jurisdiction::KZ, code).expect("fixture region")
}

/// The KZ 2025 rules from 2025-10-17 (A-28: the real start is configuration until confirmed).
pub fn kz_rule_set(parameters: RuleParameters) -> RuleSet {
    RuleSet {
        jurisdiction: Jurisdiction::KZ,
        version: 1,
        effective_from: day("2025-10-17"),
        effective_to: None,
        parameters,
    }
}

/// `count` pharmacies run by `operator`, spread round-robin over the first `regions` fixture regions.
pub fn network(prefix: &str, count: u32, regions: usize, operator: Bin) -> Vec<NetworkPharmacy> {
    (0..count)
        .map(|n| NetworkPharmacy {
            licence: PharmacyLicence::new(format!("{prefix}-{n:04}")).expect("licence"),
            operator,
            region: region(FIXTURE_REGIONS[usize::try_from(n).expect("small") % regions]),
            iss_connected: true,
        })
        .collect()
}

pub fn contract_id() -> ContractId {
    ContractId::new("C-1").expect("id")
}

/// A pharmacy company's application with `pharmacies`, ISS test act present.
pub fn company_application(
    received_at: &str,
    pharmacies: Vec<NetworkPharmacy>,
) -> ReceiveApplication {
    ReceiveApplication {
        contract_id: contract_id(),
        jurisdiction: Jurisdiction::KZ,
        received_at: at(received_at),
        applicant: Applicant::PharmacyCompany {
            bin: holder_bin(),
            name: OrganisationName::new("Dari Pharm LLP").expect("name"),
        },
        pharmacies,
        iss_test_act: Some(DocumentNumber::new("ISS-ACT-7").expect("number")),
    }
}

/// A consortium of `members` (the representative is member 1) with the given network.
pub fn consortium_application(
    received_at: &str,
    members: u32,
    pharmacies: Vec<NetworkPharmacy>,
) -> ReceiveApplication {
    ReceiveApplication {
        contract_id: contract_id(),
        jurisdiction: Jurisdiction::KZ,
        received_at: at(received_at),
        applicant: Applicant::Consortium {
            representative: member_bin(1),
            name: OrganisationName::new("Pharmacy Consortium").expect("name"),
            agreement: ConsortiumAgreement {
                reference: DocumentNumber::new("CA-1").expect("number"),
                signed_on: day("2025-12-01"),
                equal_reimbursement_terms: true,
                representative_named: true,
            },
            members: (1..=members)
                .map(|n| ConsortiumMember {
                    bin: member_bin(n),
                    name: OrganisationName::new(format!("Member {n}")).expect("name"),
                })
                .collect(),
        },
        pharmacies,
        iss_test_act: Some(DocumentNumber::new("ISS-ACT-8").expect("number")),
    }
}

pub fn review(decided_at: &str) -> ReviewApplication {
    ReviewApplication {
        decided_at: at(decided_at),
        term: ContractTerm {
            starts_on: local(decided_at),
            ends_on: None,
        },
        fund_signature: signed_by(fund_bin()),
    }
}

fn local(instant: &str) -> NaiveDate {
    crate::domain::context::local_date(Jurisdiction::KZ, at(instant))
}

pub fn metformin() -> ProductKey {
    ProductKey::Drug {
        inn: InnName::new("Metformin").expect("inn"),
        dose_form: DoseForm::new("tablets 500 mg").expect("form"),
    }
}

pub fn test_strips() -> ProductKey {
    ProductKey::Device {
        characteristic: TechnicalCharacteristic::new("glucose test strips")
            .expect("characteristic"),
    }
}

/// A price list: Metformin 500 mg per tablet at `metformin_price`, test strips per strip at 50.
pub fn price_list(version: u32, effective_from: &str, metformin_price: &str) -> PublishPriceList {
    let entry = |product, unit: &str, price: &str| PriceEntry {
        product,
        price_type: PriceType::InnLimit,
        unit: UnitOfMeasure::new(unit).expect("unit"),
        limit_unit_price: price.parse().expect("price"),
    };
    PublishPriceList {
        jurisdiction: Jurisdiction::KZ,
        version,
        effective_from: day(effective_from),
        published_at: at("2025-12-20T10:00:00+05:00"),
        entries: vec![
            entry(metformin(), "tablet", metformin_price),
            entry(test_strips(), "strip", "50"),
        ],
    }
}

/// A dispensing of 30 Metformin tablets at 12.00 by the holder in Astana, receipt 360.00.
pub fn dispensing(id: &str, dispensed_at: &str) -> RecordDispensing {
    let instant = at(dispensed_at);
    let number = u64::from(id.bytes().fold(7u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    }));
    let command = RecordDispensing {
        dispensing_id: DispensingId::new(id).expect("id"),
        dispensed_at: instant,
        dispenser_name: OrganisationName::new("Dari Pharm LLP").expect("name"),
        dispenser_bin: holder_bin(),
        region: region("710000000"),
        patient_region: None,
        icd10: Icd10::new("E11.9").expect("icd"),
        patient_iin: iin("90010130000"),
        prescription: PrescriptionRef {
            number: DocumentNumber::new(format!("RX-{id}")).expect("number"),
            written_on: local(dispensed_at),
        },
        copayment_consent: true,
        programme: Programme::Osms,
        product: metformin(),
        trade_name: TradeName::new("Siofor 500").expect("trade name"),
        unit: UnitOfMeasure::new("tablet").expect("unit"),
        quantity: "30".parse().expect("qty"),
        trade_name_unit_price: "12".parse().expect("price"),
        fiscal_receipt: FiscalReceipt::new(
            "123456789012",
            &number.to_string(),
            instant,
            Money::zero(Currency::KZT),
        )
        .expect("receipt"),
        marking_code: MarkingCode::new(format!("(01)04601234567893(21){id}")).expect("code"),
    };
    with_sale(command, "30", "12")
}

/// Sets quantity and trade-name price and makes the receipt match (qty × price).
pub fn with_sale(
    mut command: RecordDispensing,
    quantity: &str,
    unit_price: &str,
) -> RecordDispensing {
    command.quantity = quantity.parse::<Quantity>().expect("qty");
    command.trade_name_unit_price = unit_price.parse::<UnitPrice>().expect("price");
    let total = line_amount(
        command.quantity,
        command.trade_name_unit_price,
        Currency::KZT,
    )
    .expect("amount");
    let receipt = &command.fiscal_receipt;
    command.fiscal_receipt = FiscalReceipt::new(
        receipt.rnm(),
        receipt.fiscal_sign(),
        receipt.issued_at(),
        total,
    )
    .expect("receipt");
    command
}

/// The cross-period index of a world: the other periods' live keys.
struct OtherPeriods<'a> {
    periods: &'a BTreeMap<ReportingPeriod, PeriodState>,
    except: ReportingPeriod,
}

impl ReimbursedIndex for OtherPeriods<'_> {
    fn reimbursed_by(&self, key: &str) -> Option<String> {
        self.periods
            .iter()
            .filter(|(period, _)| **period != self.except)
            .find_map(|(period, state)| {
                state.reimbursed.get(key).map(|id| format!("{period}/{id}"))
            })
    }
}

/// The world: reference data, hooks and the folded states; `log` holds every accepted event.
pub struct World {
    pub calendar: WeekdayCalendar,
    pub rules: RuleBook,
    pub signatures: Box<dyn SignatureCheck>,
    pub fund_bin: Bin,
    pub contract: ContractState,
    pub prices: PriceListState,
    pub periods: BTreeMap<ReportingPeriod, PeriodState>,
    pub log: Vec<Event>,
}

impl World {
    /// KZ with the default 2025 rules, an accept-all signature check and the test calendar.
    pub fn kz() -> World {
        World::with_parameters(RuleParameters::kz_2025())
    }

    pub fn with_parameters(parameters: RuleParameters) -> World {
        World {
            calendar: WeekdayCalendar::kz(),
            rules: RuleBook::new(vec![kz_rule_set(parameters)]).expect("valid fixture rules"),
            signatures: Box::new(AcceptAllSignatures),
            fund_bin: fund_bin(),
            contract: ContractState::default(),
            prices: PriceListState::default(),
            periods: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn record(&mut self, result: &Result<Vec<Event>, DomainError>) {
        if let Ok(events) = result {
            self.log.extend(events.iter().cloned());
        }
    }

    pub fn contract(&mut self, command: ContractCommand) -> Result<Vec<Event>, DomainError> {
        let ctx = DecisionContext {
            calendar: &self.calendar,
            rules: &self.rules,
            signatures: self.signatures.as_ref(),
            fund_bin: self.fund_bin,
        };
        let result = contract::decide(&self.contract, command, &ctx);
        if let Ok(events) = &result {
            self.contract = events
                .iter()
                .fold(std::mem::take(&mut self.contract), contract::evolve);
        }
        self.record(&result);
        result
    }

    pub fn prices(&mut self, command: PublishPriceList) -> Result<Vec<Event>, DomainError> {
        let result = prices::decide(&self.prices, command);
        if let Ok(events) = &result {
            self.prices = events
                .iter()
                .fold(std::mem::take(&mut self.prices), prices::evolve);
        }
        self.record(&result);
        result
    }

    pub fn period(
        &mut self,
        period: ReportingPeriod,
        command: PeriodCommand,
    ) -> Result<Vec<Event>, DomainError> {
        let ctx = DecisionContext {
            calendar: &self.calendar,
            rules: &self.rules,
            signatures: self.signatures.as_ref(),
            fund_bin: self.fund_bin,
        };
        let index = OtherPeriods {
            periods: &self.periods,
            except: period,
        };
        let period_ctx = PeriodContext {
            decision: &ctx,
            contract: &self.contract,
            prices: &self.prices,
            period,
            index: &index,
        };
        let state = self.periods.get(&period).cloned().unwrap_or_default();
        let result = period::decide(&state, command, &period_ctx);
        if let Ok(events) = &result {
            let next = events.iter().fold(state, period::evolve);
            self.periods.insert(period, next);
        }
        self.record(&result);
        result
    }

    /// Given: a KZ pharmacy company with 70 pharmacies in 3 regions, application received on
    /// Monday 2026-01-05, contract concluded 2026-01-08, price list v1 (Metformin 10.00) from
    /// 2026-01-01.
    pub fn with_concluded_contract(mut self) -> World {
        let application = company_application(
            "2026-01-05T10:00:00+05:00",
            network("PH", 70, 3, holder_bin()),
        );
        self.contract(ContractCommand::ReceiveApplication(application))
            .expect("application");
        self.contract(ContractCommand::ReviewApplication(review(
            "2026-01-08T10:00:00+05:00",
        )))
        .expect("conclusion");
        self.prices(price_list(1, "2026-01-01", "10"))
            .expect("price list");
        self
    }

    pub fn january() -> ReportingPeriod {
        ReportingPeriod::month(2026, 1).expect("month")
    }
}
