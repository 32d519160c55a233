//! The period lifecycle after the dispensings: registry (with a rejection and resubmission now and
//! then), payment act, signing, a suspended payment clock now and then, payments (sometimes in two
//! parts) and the budget lines they charge (B-07: December services go to the next fiscal year).

use super::*;
use ledger::domain::period::events::ProgrammeAmount;

/// The dates of one period's lifecycle, each a few days after the previous one.
struct Calendar {
    day: NaiveDate,
}

impl Calendar {
    fn after(&mut self, days: u64) -> NaiveDate {
        self.day = self.day + Days::new(days);
        self.day
    }
}

impl Contract {
    pub fn lifecycle(
        &self,
        period: ReportingPeriod,
        dispensed: &Dispensed,
        rng: &mut Rng,
        sink: &mut impl FnMut(SampleEvent),
    ) {
        let period_stream = self.period_stream(period);
        let mut emit = |event: Event| {
            sink(SampleEvent {
                stream: period_stream.clone(),
                event,
            })
        };
        let mut calendar = Calendar {
            day: period.last_day(),
        };
        let registry_no = number(format!("R-{}-{}", self.index, period.key()));
        let content_hash = DocumentHash::of(&(self.id.as_str(), period.key(), dispensed.count));
        let registry_due = deadline(ClockRule::RegistrySubmission, period.last_day(), 25);
        let submitted_on = calendar.after(5 + rng.below(25));
        let late = submitted_on > registry_due.due;
        let submit = |submission: u32, on: NaiveDate| RegistrySubmitted {
            contract_id: self.id.clone(),
            period,
            registry_no: registry_no.clone(),
            submitted_at: kz_local(on, 600),
            submission,
            line_count: dispensed.count,
            content_hash,
            total_fund: dispensed.total(|sums| sums.fund),
            total_patient: dispensed.total(|sums| sums.patient),
            total: dispensed.total(|sums| sums.fund + sums.patient),
            due: registry_due,
            late,
            signature: signature(self.holder, content_hash),
        };
        let receive = |on: NaiveDate| RegistryReceived {
            contract_id: self.id.clone(),
            period,
            registry_no: registry_no.clone(),
            content_hash,
            received_at: kz_local(on, 660),
            review: deadline(ClockRule::RegistryReview, on, 14),
        };
        emit(submit(1, submitted_on).into());
        emit(receive(calendar.after(1)).into());
        if rng.chance(5) {
            emit(Event::RegistryRejected(RegistryRejected {
                contract_id: self.id.clone(),
                period,
                registry_no: registry_no.clone(),
                content_hash,
                rejected_at: kz_local(calendar.after(3), 600),
                reason: "line 1: prescription date missing".to_owned(),
                lines: Vec::new(),
            }));
            emit(submit(2, calendar.after(2)).into());
            emit(receive(calendar.after(1)).into());
        }
        emit(Event::RegistryApproved(RegistryApproved {
            contract_id: self.id.clone(),
            period,
            registry_no: registry_no.clone(),
            content_hash,
            approved_at: kz_local(calendar.after(4), 600),
            total_fund: dispensed.total(|sums| sums.fund),
            act_submission: None,
            signature: signature(bin(99_034_000_001), content_hash),
        }));
        self.act(period, dispensed, &mut calendar, rng, &mut emit);
    }

    fn act(
        &self,
        period: ReportingPeriod,
        dispensed: &Dispensed,
        calendar: &mut Calendar,
        rng: &mut Rng,
        emit: &mut impl FnMut(Event),
    ) {
        let act_no = number(format!("A-{}-{}", self.index, period.key()));
        let rows: Vec<ActRow> = dispensed
            .by_region
            .iter()
            .zip(1u32..)
            .map(|((region, sums), row_no)| ActRow {
                row_no,
                region: *region,
                supplier: self.name.clone(),
                prescriptions: u32::try_from(sums.prescriptions.len()).expect("bounded"),
                fund_amount: kzt(sums.fund),
            })
            .collect();
        let total = dispensed.total(|sums| sums.fund);
        let content_hash = DocumentHash::of(&(act_no.as_str(), total.minor));
        emit(Event::PaymentActSubmitted(PaymentActSubmitted {
            contract_id: self.id.clone(),
            period,
            act_no: act_no.clone(),
            submitted_at: kz_local(calendar.after(1), 600),
            registry_hash: DocumentHash::of(&(self.id.as_str(), period.key(), dispensed.count)),
            rows,
            total,
            by_programme: vec![ProgrammeAmount {
                programme: Programme::Osms,
                amount: total,
            }],
            content_hash,
            signature: signature(self.holder, content_hash),
        }));
        let received_on = calendar.after(1);
        emit(Event::PaymentActReceived(PaymentActReceived {
            contract_id: self.id.clone(),
            period,
            act_no: act_no.clone(),
            received_at: kz_local(received_on, 600),
            signing: deadline(ClockRule::ActSigning, received_on, 7),
        }));
        let signed_on = calendar.after(2 + rng.below(8));
        // B-07: December services are charged to the next fiscal year.
        let fiscal_year = period.first_day().year() + i32::from(period.first_day().month() == 12);
        emit(Event::PaymentActSigned(PaymentActSigned {
            contract_id: self.id.clone(),
            period,
            act_no: act_no.clone(),
            signed_at: kz_local(signed_on, 600),
            total,
            by_programme: vec![ProgrammeAmount {
                programme: Programme::Osms,
                amount: total,
            }],
            payment: deadline(ClockRule::Payment, signed_on, 5),
            fiscal_year,
            signature: signature(bin(99_034_000_001), content_hash),
        }));
        self.pay(period, &act_no, total, fiscal_year, calendar, rng, emit);
    }

    #[allow(clippy::too_many_arguments)]
    fn pay(
        &self,
        period: ReportingPeriod,
        act_no: &DocumentNumber,
        total: Money,
        fiscal_year: i32,
        calendar: &mut Calendar,
        rng: &mut Rng,
        emit: &mut impl FnMut(Event),
    ) {
        if rng.chance(4) {
            emit(Event::PaymentClockSuspended(PaymentClockSuspended {
                contract_id: self.id.clone(),
                period,
                act_no: act_no.clone(),
                suspended_at: kz_local(calendar.after(1), 600),
                reason: SuspensionReason::BudgetTransferLate,
                remaining: ledger::domain::calendar::CalendarDays(4),
            }));
            let resumed_on = calendar.after(6);
            emit(Event::PaymentClockResumed(PaymentClockResumed {
                contract_id: self.id.clone(),
                period,
                act_no: act_no.clone(),
                resumed_at: kz_local(resumed_on, 600),
                payment: deadline(ClockRule::Payment, resumed_on, 4),
            }));
        }
        let parts: Vec<i64> = if rng.chance(3) && total.minor > 1 {
            vec![total.minor / 2, total.minor - total.minor / 2]
        } else {
            vec![total.minor]
        };
        let mut paid = 0;
        for (part, amount) in parts.into_iter().enumerate() {
            paid += amount;
            emit(Event::PaymentMade(PaymentMade {
                contract_id: self.id.clone(),
                period,
                act_no: act_no.clone(),
                payment_ref: number(format!("PAY-{act_no}-{part}")),
                paid_at: kz_local(calendar.after(1 + rng.below(3)), 600),
                amount: kzt(amount),
                programme: Programme::Osms,
                paid_programme_total: kzt(paid),
                paid_total: kzt(paid),
                fiscal_year,
                payer: bin(99_034_000_001),
            }));
        }
    }

    /// The budget events this contract's periods cause: a commitment and a payment per act row, on the
    /// stream of the fiscal year charged (B-07). Emitted after the period events (another stream).
    pub fn budget(
        &self,
        period: ReportingPeriod,
        dispensed: &Dispensed,
        sink: &mut impl FnMut(SampleEvent),
    ) {
        let fiscal_year = period.first_day().year() + i32::from(period.first_day().month() == 12);
        let budget_stream = stream(format!("budget/KZ/OSMS/{fiscal_year}"));
        let act_ref = format!("A-{}-{}", self.index, period.key());
        let on = period.last_day() + Days::new(40);
        for (region, sums) in &dispensed.by_region {
            let amount = kzt(sums.fund);
            let committed = BudgetCommitted {
                region: *region,
                amount,
                act_ref: act_ref.clone(),
                committed_on: on,
            };
            let paid = BudgetPaid {
                region: *region,
                amount,
                payment_ref: format!("{act_ref}/{}", region.code()),
                act_ref: act_ref.clone(),
                service_month: ServiceMonth::of(period.first_day()),
                paid_on: on + Days::new(5),
                over_budget: false,
            };
            sink(SampleEvent {
                stream: budget_stream.clone(),
                event: committed.into(),
            });
            sink(SampleEvent {
                stream: budget_stream.clone(),
                event: paid.into(),
            });
        }
    }
}

/// Allocations and transfers for every fiscal year the sample can charge, before any payment.
pub fn allocate(sink: &mut impl FnMut(SampleEvent)) {
    for fiscal_year in [2026, 2027] {
        let budget_stream = stream(format!("budget/KZ/OSMS/{fiscal_year}"));
        let on = NaiveDate::from_ymd_opt(fiscal_year, 1, 5).expect("date");
        for code in REGIONS {
            let region = Region::new(Jurisdiction::KZ, code).expect("known region");
            let amount = kzt(5_000_000_000_000);
            let allocated = BudgetAllocated {
                region,
                amount,
                allocated_on: on,
                basis: "budget law".to_owned(),
            };
            let transferred = BudgetTransferredToFund {
                region,
                amount: kzt(1_000_000_000_000),
                transferred_on: on + Days::new(10),
                due_on: on + Days::new(5),
                late: true,
            };
            sink(SampleEvent {
                stream: budget_stream.clone(),
                event: allocated.into(),
            });
            sink(SampleEvent {
                stream: budget_stream.clone(),
                event: transferred.into(),
            });
        }
    }
}
