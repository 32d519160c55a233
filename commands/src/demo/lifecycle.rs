//! A period's life after its month ends, for every KZ contract: the registry is submitted (two late,
//! D-02), received and reviewed (one rejected with line reasons, corrected by a reversal and resubmitted,
//! A-06), the act is submitted, received and signed (D-05, D-06), and paid within 5 calendar days
//! (D-07), one payment clock being suspended for a late budget transfer and resumed (D-08, A-08).
//! Budget lines record the commitment at signing and the payment (B-07 for December).

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::budget::{
    BudgetCommand, BudgetId, Commit, Pay, ServiceMonth, TransferToFund, fiscal_year_of_payment,
};
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::events::{LineRejection, SuspensionReason};
use ledger::domain::period::{
    ApproveRegistry, MakePayment, PeriodCommand, ReceivePaymentAct, ReceiveRegistry,
    RejectRegistry, ResumePaymentClock, ReverseDispensing, SignPaymentAct, SubmitPaymentAct,
    SubmitRegistry, SuspendPaymentClock,
};
use ledger::domain::region::{Programme, Region};
use ledger::domain::signature::SignedBy;
use ledger::domain::time::Timestamp;
use ledger::domain::values::{DocumentNumber, OrganisationName, ReportingPeriod};
use ledger::log::Actor;

use super::engine::{Engine, period_stream};
use super::setup::kz_local;
use super::world::ContractHolder;

fn value<T, E: std::fmt::Display>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|error| anyhow::anyhow!("{error}"))
}

/// What happens to one contract's period, chosen by its position so every demo shows each path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    /// Day of the following month the registry is submitted (D-02: due the 25th).
    pub submit_day: u32,
    /// The Fund rejects the first submission.
    pub reject_first: bool,
    /// The payment clock is suspended for a late budget transfer (D-08).
    pub suspend_payment: bool,
}

/// The script of the `index`-th KZ contract: the last two submit late, the second is rejected once,
/// the third has its payment suspended.
pub fn script(index: usize, contracts: usize) -> Script {
    Script {
        submit_day: if index + 2 >= contracts {
            26 + u32::try_from(index % 2).unwrap_or(0)
        } else {
            8 + u32::try_from(index % 10).unwrap_or(0)
        },
        reject_first: index == 1,
        suspend_payment: index == 2,
    }
}

/// The first working day on or after `date` (KZ calendar).
fn working_on_or_after(engine: &Engine, date: NaiveDate) -> anyhow::Result<NaiveDate> {
    use ledger::domain::calendar::WorkingCalendar;
    value(engine.kz_calendar.roll_forward(date))
}

struct Step<'a> {
    engine: &'a Engine,
    holder: &'a ContractHolder,
    period: ReportingPeriod,
}

impl Step<'_> {
    async fn run(
        &self,
        name: &str,
        at: Timestamp,
        actor: Actor,
        signer: Option<Bin>,
        build: impl Fn(Option<SignedBy>) -> PeriodCommand,
    ) -> anyhow::Result<()> {
        let step = format!(
            "{}/{name}",
            period_stream(&self.holder.contract_id, self.period)
        );
        let meta = self.engine.meta(&step, at, Jurisdiction::KZ, actor);
        let outcome = self
            .engine
            .period(
                &self.holder.contract_id,
                self.period,
                meta,
                |signature| vec![build(signature)],
                signer,
            )
            .await?;
        if let Err(refused) = outcome {
            bail!("{step} was refused: {refused}");
        }
        Ok(())
    }

    fn holder_actor(&self) -> Actor {
        Engine::pharmacy_actor(self.holder.holder.bin)
    }

    fn number(&self, kind: &str, suffix: &str) -> anyhow::Result<DocumentNumber> {
        value(DocumentNumber::new(format!(
            "{kind}-{}-{}{suffix}",
            self.holder.contract_id,
            self.period.key()
        )))
    }
}

/// Submits, receives and reviews the registry; returns the day it was approved.
async fn registry(step: &Step<'_>, script: Script) -> anyhow::Result<NaiveDate> {
    let next_month = step.period.last_day() + chrono::Duration::days(1);
    let submitted_on =
        NaiveDate::from_ymd_opt(next_month.year(), next_month.month(), script.submit_day)
            .expect("valid day");
    let holder = step.holder.holder.bin;
    let fund = step.engine.fund_bin;
    let registry_no = step.number("R", "")?;
    step.run(
        "registry/submit",
        kz_local(submitted_on, 11),
        step.holder_actor(),
        Some(holder),
        |signature| {
            PeriodCommand::SubmitRegistry(SubmitRegistry {
                registry_no: registry_no.clone(),
                submitted_at: kz_local(submitted_on, 11),
                signature: signature.expect("signed"),
            })
        },
    )
    .await?;
    let mut received_on =
        working_on_or_after(step.engine, submitted_on + chrono::Duration::days(1))?;
    step.run(
        "registry/receive",
        kz_local(received_on, 9),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::ReceiveRegistry(ReceiveRegistry {
                received_at: kz_local(received_on, 9),
            })
        },
    )
    .await?;
    if script.reject_first {
        received_on = reject_and_resubmit(step, received_on).await?;
    }
    let approved_on = working_on_or_after(step.engine, received_on + chrono::Duration::days(3))?;
    step.run(
        "registry/approve",
        kz_local(approved_on, 15),
        step.engine.fund_actor(),
        Some(fund),
        |signature| {
            PeriodCommand::ApproveRegistry(ApproveRegistry {
                approved_at: kz_local(approved_on, 15),
                signature: signature.expect("signed"),
            })
        },
    )
    .await?;
    Ok(approved_on)
}

/// the Fund rejects line 1 (receipt amount disputed); the holder reverses it and resubmits; the
/// resubmission is a new receipt with a fresh REGISTRY_REVIEW clock. Returns the new receipt day.
async fn reject_and_resubmit(step: &Step<'_>, received_on: NaiveDate) -> anyhow::Result<NaiveDate> {
    let rejected_on = working_on_or_after(step.engine, received_on + chrono::Duration::days(2))?;
    step.run(
        "registry/reject",
        kz_local(rejected_on, 16),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::RejectRegistry(RejectRegistry {
                rejected_at: kz_local(rejected_on, 16),
                reason: "line 1: the fiscal receipt is not found at the fiscal data operator"
                    .into(),
                lines: vec![LineRejection {
                    line_no: 1,
                    code: "P-08".into(),
                    reason: "fiscal receipt not confirmed".into(),
                }],
            })
        },
    )
    .await?;
    resubmit_corrected(step, rejected_on).await
}

/// the holder reverses the rejected line and resubmits; returns the day the Fund receives it.
async fn resubmit_corrected(step: &Step<'_>, rejected_on: NaiveDate) -> anyhow::Result<NaiveDate> {
    let stream_id = period_stream(&step.holder.contract_id, step.period);
    let first_line = step
        .engine
        .periods
        .peek(&stream_id, |state| {
            state
                .live_dispensings()
                .first()
                .map(|line| line.dispensing_id.clone())
        })
        .flatten();
    let Some(dispensing_id) = first_line else {
        bail!("a rejected registry has a first line")
    };
    let corrected_on = rejected_on + chrono::Duration::days(1);
    step.run(
        "registry/reverse-line-1",
        kz_local(corrected_on, 10),
        step.holder_actor(),
        None,
        |_| {
            PeriodCommand::ReverseDispensing(ReverseDispensing {
                dispensing_id: dispensing_id.clone(),
                reversed_at: kz_local(corrected_on, 10),
                reason: "receipt not confirmed (P-08)".into(),
            })
        },
    )
    .await?;
    let registry_no = step.number("R", "-2")?;
    let holder = step.holder.holder.bin;
    step.run(
        "registry/resubmit",
        kz_local(corrected_on, 12),
        step.holder_actor(),
        Some(holder),
        |signature| {
            PeriodCommand::SubmitRegistry(SubmitRegistry {
                registry_no: registry_no.clone(),
                submitted_at: kz_local(corrected_on, 12),
                signature: signature.expect("signed"),
            })
        },
    )
    .await?;
    let received_again =
        working_on_or_after(step.engine, corrected_on + chrono::Duration::days(1))?;
    step.run(
        "registry/receive-2",
        kz_local(received_again, 9),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::ReceiveRegistry(ReceiveRegistry {
                received_at: kz_local(received_again, 9),
            })
        },
    )
    .await?;
    Ok(received_again)
}

/// Submits, receives and signs the act; returns the signing day and the act's region rows.
async fn act(step: &Step<'_>, approved_on: NaiveDate) -> anyhow::Result<NaiveDate> {
    let submitted_on = approved_on + chrono::Duration::days(1);
    let act_no = step.number("A", "")?;
    let supplier = value(OrganisationName::new(step.holder.holder.name.as_str()))?;
    let holder = step.holder.holder.bin;
    step.run(
        "act/submit",
        kz_local(submitted_on, 10),
        step.holder_actor(),
        Some(holder),
        |signature| {
            PeriodCommand::SubmitPaymentAct(SubmitPaymentAct {
                act_no: act_no.clone(),
                submitted_at: kz_local(submitted_on, 10),
                supplier: supplier.clone(),
                signature: signature.expect("signed"),
            })
        },
    )
    .await?;
    let received_on = working_on_or_after(step.engine, submitted_on + chrono::Duration::days(1))?;
    step.run(
        "act/receive",
        kz_local(received_on, 9),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::ReceivePaymentAct(ReceivePaymentAct {
                received_at: kz_local(received_on, 9),
            })
        },
    )
    .await?;
    let signed_on = working_on_or_after(step.engine, received_on + chrono::Duration::days(2))?;
    let fund = step.engine.fund_bin;
    step.run(
        "act/sign",
        kz_local(signed_on, 16),
        step.engine.fund_actor(),
        Some(fund),
        |signature| {
            PeriodCommand::SignPaymentAct(SignPaymentAct {
                signed_at: kz_local(signed_on, 16),
                signature: signature.expect("signed"),
            })
        },
    )
    .await?;
    Ok(signed_on)
}

/// Σ col 15 of the registry per (programme, region): what each programme's budget line is charged.
fn shares(step: &Step<'_>) -> std::collections::BTreeMap<(Programme, Region), Money> {
    let stream_id = period_stream(&step.holder.contract_id, step.period);
    let mut shares = std::collections::BTreeMap::new();
    step.engine.periods.peek(&stream_id, |state| {
        for line in state.live_dispensings() {
            let share = shares
                .entry((line.programme, line.region))
                .or_insert_with(|| Money::zero(Currency::KZT));
            *share = share
                .checked_add(line.amounts.fund)
                .expect("shares fit in i64");
        }
    });
    shares
}

/// Pays the act (D-07) one programme share at a time (A-34, F-03), suspending and resuming the
/// clock first when scripted (D-08, A-08), and records each programme's budget commitment and payment
/// per region (B-07 decides the fiscal year).
async fn pay(step: &Step<'_>, signed_on: NaiveDate, script: Script) -> anyhow::Result<()> {
    let shares = shares(step);
    let service = value(ServiceMonth::new(
        step.period.first_day().year(),
        step.period.first_day().month(),
    ))?;
    let fiscal_year = fiscal_year_of_payment(Jurisdiction::KZ, service);
    let act_ref = step.number("A", "")?.to_string();
    for (&(programme, region), amount) in &shares {
        let budget = value(BudgetId::new(Jurisdiction::KZ, programme, fiscal_year))?;
        let command = BudgetCommand::Commit(Commit {
            region,
            amount: *amount,
            act_ref: act_ref.clone(),
            on: signed_on,
        });
        step.engine
            .budget(
                &format!("{act_ref}/commit/{programme}/{}", region.code()),
                kz_local(signed_on, 17),
                budget,
                command,
            )
            .await?;
    }
    let mut paid_on = signed_on + chrono::Duration::days(2);
    if script.suspend_payment {
        paid_on = suspend_and_resume(step, signed_on, fiscal_year, &shares).await?;
    }
    for programme in [Programme::Gobmp, Programme::Osms] {
        let lines: Vec<(Region, Money)> = shares
            .iter()
            .filter(|((of, _), _)| *of == programme)
            .map(|(&(_, region), &amount)| (region, amount))
            .collect();
        if lines.is_empty() {
            continue;
        }
        pay_programme(
            step,
            paid_on,
            programme,
            &lines,
            (service, fiscal_year, &act_ref),
        )
        .await?;
    }
    Ok(())
}

/// Pays one programme's share and charges its budget lines.
async fn pay_programme(
    step: &Step<'_>,
    paid_on: NaiveDate,
    programme: Programme,
    lines: &[(Region, Money)],
    (service, fiscal_year, act_ref): (ServiceMonth, ledger::domain::budget::FiscalYear, &str),
) -> anyhow::Result<()> {
    let total = Money::sum(Currency::KZT, lines.iter().map(|(_, amount)| amount))
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let payment_ref = step.number("P", &format!("-{programme}"))?;
    step.run(
        &format!("payment/{programme}"),
        kz_local(paid_on, 12),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::MakePayment(MakePayment {
                payment_ref: payment_ref.clone(),
                paid_at: kz_local(paid_on, 12),
                programme,
                amount: total,
            })
        },
    )
    .await?;
    let budget = value(BudgetId::new(Jurisdiction::KZ, programme, fiscal_year))?;
    for (region, amount) in lines {
        let command = BudgetCommand::Pay(Pay {
            region: *region,
            amount: *amount,
            payment_ref: format!("{payment_ref}/{}", region.code()),
            act_ref: act_ref.to_owned(),
            service_month: service,
            on: paid_on,
        });
        step.engine
            .budget(
                &format!("{payment_ref}/pay/{}", region.code()),
                kz_local(paid_on, 13),
                budget,
                command,
            )
            .await?;
    }
    Ok(())
}

/// D-08, A-08: the budget transfer arrives late, the Fund suspends the payment clock the day after
/// signing and resumes it when the money arrives; returns the payment day.
async fn suspend_and_resume(
    step: &Step<'_>,
    signed_on: NaiveDate,
    fiscal_year: ledger::domain::budget::FiscalYear,
    shares: &std::collections::BTreeMap<(Programme, Region), Money>,
) -> anyhow::Result<NaiveDate> {
    let suspended_on = signed_on + chrono::Duration::days(1);
    step.run(
        "payment/suspend",
        kz_local(suspended_on, 10),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::SuspendPaymentClock(SuspendPaymentClock {
                suspended_at: kz_local(suspended_on, 10),
                reason: SuspensionReason::BudgetTransferLate,
            })
        },
    )
    .await?;
    let arrived_on = suspended_on + chrono::Duration::days(6);
    for (&(programme, region), amount) in shares {
        let budget = value(BudgetId::new(Jurisdiction::KZ, programme, fiscal_year))?;
        let command = BudgetCommand::TransferToFund(TransferToFund {
            region,
            amount: *amount,
            on: arrived_on,
            due_on: suspended_on,
        });
        let name = format!(
            "{}/transfer/{programme}/{}",
            period_stream(&step.holder.contract_id, step.period),
            region.code()
        );
        step.engine
            .budget(&name, kz_local(arrived_on, 9), budget, command)
            .await?;
    }
    step.run(
        "payment/resume",
        kz_local(arrived_on, 11),
        step.engine.fund_actor(),
        None,
        |_| {
            PeriodCommand::ResumePaymentClock(ResumePaymentClock {
                resumed_at: kz_local(arrived_on, 11),
            })
        },
    )
    .await?;
    Ok(arrived_on + chrono::Duration::days(1))
}

/// Runs the whole post-month life of one contract's period.
pub async fn close_period(
    engine: &Engine,
    holder: &ContractHolder,
    period: ReportingPeriod,
    script: Script,
) -> anyhow::Result<()> {
    let step = Step {
        engine,
        holder,
        period,
    };
    let approved_on = registry(&step, script).await?;
    let signed_on = act(&step, approved_on).await?;
    pay(&step, signed_on, script).await
}
