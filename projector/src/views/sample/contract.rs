//! One generated contract: its holder, network, dispensings and period lifecycle.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// What the live dispensings of a period add up to, per region (for the act rows, A-12).
#[derive(Debug, Default)]
pub struct Dispensed {
    by_region: BTreeMap<Region, RegionSums>,
    count: u32,
}

#[derive(Debug, Default)]
struct RegionSums {
    fund: i64,
    patient: i64,
    prescriptions: BTreeSet<String>,
}

impl Dispensed {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn total(&self, pick: fn(&RegionSums) -> i64) -> Money {
        kzt(self.by_region.values().map(pick).sum())
    }
}

pub struct Contract {
    index: u32,
    id: ContractId,
    holder: Bin,
    name: OrganisationName,
    regions: Vec<Region>,
    pharmacies: u32,
}

impl Contract {
    pub fn new(index: u32, rng: &mut Rng) -> Contract {
        let region_count = 1 + rng.below(3);
        let regions = (0..region_count)
            .map(|offset| {
                let slot = (u64::from(index) + offset) % 6;
                let code = REGIONS[usize::try_from(slot).expect("small")];
                Region::new(Jurisdiction::KZ, code).expect("known region")
            })
            .collect();
        Contract {
            index,
            id: ContractId::new(format!("C-{index:05}")).expect("valid id"),
            holder: bin(50_140_000_000 + u64::from(index)),
            name: OrganisationName::new(format!("Pharmacy {index} LLP")).expect("valid name"),
            regions,
            pharmacies: 3 + u32::try_from(rng.below(30)).expect("small"),
        }
    }

    fn contract_stream(&self) -> StreamId {
        stream(format!("contract/{}", self.id))
    }

    fn period_stream(&self, period: ReportingPeriod) -> StreamId {
        stream(format!("period/{}/{}", self.id, period.key()))
    }

    /// C-01, D-01: application, then conclusion three days later.
    pub fn conclude(&self, sink: &mut impl FnMut(SampleEvent)) {
        let applied_on = NaiveDate::from_ymd_opt(2025, 12, 1).expect("date")
            + Days::new(u64::from(self.index % 20));
        let pharmacies: Vec<NetworkPharmacy> = (0..self.pharmacies)
            .map(|n| NetworkPharmacy {
                licence: PharmacyLicence::new(format!("L-{}-{n:03}", self.index)).expect("licence"),
                operator: self.holder,
                region: self.regions[usize::try_from(n).expect("small") % self.regions.len()],
                iss_connected: true,
            })
            .collect();
        let received = ContractApplicationReceived {
            contract_id: self.id.clone(),
            jurisdiction: Jurisdiction::KZ,
            received_at: kz_local(applied_on, 600),
            applicant: Applicant::PharmacyCompany {
                bin: self.holder,
                name: self.name.clone(),
            },
            pharmacies,
            iss_test_act: Some(number(format!("ISS-{}", self.index))),
            review: deadline(ClockRule::ContractReview, applied_on, 7),
            rule_set_version: 1,
        };
        let concluded_on = applied_on + Days::new(3);
        let concluded = ContractConcluded {
            contract_id: self.id.clone(),
            concluded_at: kz_local(concluded_on, 660),
            holder: self.holder,
            term: ContractTerm {
                starts_on: concluded_on,
                ends_on: None,
            },
            pharmacies: self.pharmacies,
            regions: u32::try_from(self.regions.len()).expect("small"),
            rule_set_version: 1,
            signature: signature(bin(99_034_000_001), DocumentHash::of(&self.id)),
            registry_due: Some(ledger::domain::clock::MonthlyDue {
                rule: ClockRule::RegistrySubmission,
                due_day: 25,
                calendar_version: ledger::domain::calendar::CalendarVersion(1),
            }),
        };
        let contract_stream = self.contract_stream();
        sink(SampleEvent {
            stream: contract_stream.clone(),
            event: received.into(),
        });
        sink(SampleEvent {
            stream: contract_stream,
            event: concluded.into(),
        });
    }

    /// M-01…M-08: `count` dispensings over the month; about one in 40 is reversed right after.
    pub fn dispense(
        &self,
        period: ReportingPeriod,
        count: u32,
        rng: &mut Rng,
        sink: &mut impl FnMut(SampleEvent),
    ) -> Dispensed {
        let period_stream = self.period_stream(period);
        let days = u64::try_from((period.last_day() - period.first_day()).num_days() + 1)
            .expect("positive");
        let mut dispensed = Dispensed::default();
        for n in 0..count {
            let day = period.first_day() + Days::new(rng.below(days));
            let minute = 540 + i64::try_from(rng.below(600)).expect("small");
            let recorded = self.dispensing(period, n, kz_local(day, minute), rng);
            let reversed = rng.chance(40);
            if reversed {
                let reversal = DispensingReversed {
                    contract_id: self.id.clone(),
                    period,
                    dispensing_id: recorded.dispensing_id.clone(),
                    reversed_at: recorded.dispensed_at,
                    reason: "wrong quantity".to_owned(),
                    amounts: recorded.amounts,
                };
                sink(SampleEvent {
                    stream: period_stream.clone(),
                    event: recorded.into(),
                });
                sink(SampleEvent {
                    stream: period_stream.clone(),
                    event: reversal.into(),
                });
                continue;
            }
            let sums = dispensed.by_region.entry(recorded.region).or_default();
            sums.fund += recorded.amounts.fund.minor;
            sums.patient += recorded.amounts.patient.minor;
            sums.prescriptions
                .insert(recorded.prescription.number.to_string());
            dispensed.count += 1;
            sink(SampleEvent {
                stream: period_stream.clone(),
                event: recorded.into(),
            });
        }
        dispensed
    }

    fn dispensing(
        &self,
        period: ReportingPeriod,
        n: u32,
        at: Timestamp,
        rng: &mut Rng,
    ) -> DispensingRecorded {
        let tablets = 10 + rng.below(80);
        let limit_minor = 1_000 + i64::try_from(rng.below(5_000)).expect("small");
        let total = limit_minor * i64::try_from(tablets).expect("small");
        let patient = total * i64::try_from(rng.below(30)).expect("small") / 100;
        let id = format!("D-{}-{}-{n:07}", self.index, period.key());
        let region = self.regions[usize::try_from(
            rng.below(u64::try_from(self.regions.len()).expect("small")),
        )
        .expect("small")];
        DispensingRecorded {
            contract_id: self.id.clone(),
            period,
            dispensing_id: DispensingId::new(id.clone()).expect("id"),
            dispensed_at: at,
            dispenser_name: self.name.clone(),
            dispenser_bin: self.holder,
            region,
            patient_region: None,
            icd10: Icd10::new("E11.9").expect("icd"),
            patient_iin: iin(90_010_130_000 + rng.below(1_000_000)),
            prescription: PrescriptionRef {
                number: number(format!("RX-{}-{n}", self.index)),
                written_on: period.first_day(),
            },
            copayment_consent: true,
            programme: Programme::Osms,
            product: ProductKey::Drug {
                inn: InnName::new("Metformin").expect("inn"),
                dose_form: DoseForm::new("tablets 500 mg").expect("form"),
            },
            trade_name: TradeName::new("Siofor 500").expect("trade name"),
            unit: UnitOfMeasure::new("tablet").expect("unit"),
            quantity: tablets.to_string().parse().expect("quantity"),
            limit_unit_price: kzt(limit_minor).to_plain_string().parse().expect("price"),
            trade_name_unit_price: kzt(limit_minor).to_plain_string().parse().expect("price"),
            price_type: PriceType::InnLimit,
            price_list_version: 1,
            fiscal_receipt: FiscalReceipt::new(
                "600400012345",
                &format!("{}{n}", self.index + 1),
                at,
                kzt(total),
            )
            .expect("receipt"),
            marking_code: MarkingCode::new(format!("(01)04601234567893(21){id}")).expect("code"),
            amounts: LineAmounts {
                fund: kzt(total - patient),
                patient: kzt(patient),
                total: kzt(total),
            },
            rule_set_version: 1,
        }
    }
}

#[path = "lifecycle.rs"]
mod lifecycle;

pub use lifecycle::allocate;
