//! A KG contract's month settled (D-13, P-09): the payment report on the 5th of the next month
//! (the contract's due day is the 10th), its review and approval on the 10th, the payment of the net
//! payable on the 15th, committed and paid on the KG budget of the pharmacy's region (B-07). Every
//! month the contract is in force is reported, one with no sales included.
//!
//! Scripted in the first demo month (issue #17): KG-001's report is rejected with a reason naming a
//! line, the line is reversed and the report resubmitted (P-09); KG-001 also gets a dispute claim
//! filed in its window and resolved by a commission of three (X-01…X-03, D-12, A-27), and a second
//! claim after the report, refused; KG-004 owes a recovery assessed on an inspection act, offset when
//! its report is approved.

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::budget::{BudgetCommand, BudgetId, Commit, Pay, ServiceMonth};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::kg::recovery::{Debtor, RecoveryAssessed, RecoveryGround};
use ledger::domain::money::{Currency, Money};
use ledger::domain::period::kg::{
    ApproveKgPaymentReport, KgPeriodCommand, KgPeriodState, PayKgSettlement, RejectKgPaymentReport,
    ReverseKgDispensing, SubmitKgPaymentReport,
};
use ledger::domain::region::Programme;
use ledger::domain::values::{DocumentNumber, ReportingPeriod};
use ledger::log::Actor;

use super::disputes;
use super::period::KgMonth;
use super::{kg_local, mhif_actor, pharmacy_actor, value};
use crate::demo::engine::{Engine, stream};
use crate::demo::world::World;
use crate::handler::Handled;
use crate::submit::route::recovery_stream;
use crate::writer::Command;

/// What a contract's month goes through besides the plain settlement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Script {
    /// P-09: the MHIF rejects the first report; a line is reversed and the report resubmitted.
    pub reject_first: bool,
    /// X-01…: a claim in the window, resolved; a claim after the report, refused.
    pub dispute: bool,
    /// a recovery assessed in the month, offset at the approval.
    pub recovery: bool,
}

impl Script {
    /// The script of the `index`-th KG pharmacy in `period`: paths only in the first demo month.
    pub fn of(index: usize, first_demo_month: bool) -> Script {
        Script {
            reject_first: first_demo_month && index == 0,
            dispute: first_demo_month && index == 0,
            recovery: first_demo_month && index == 3,
        }
    }
}

/// The month before `period`.
pub fn month_before(period: ReportingPeriod) -> Option<ReportingPeriod> {
    let day = period.first_day().pred_opt()?;
    ReportingPeriod::month(day.year(), day.month()).ok()
}

/// Settles `period` for every KG contract in force in it.
pub async fn settle_month(
    engine: &Engine,
    world: &World,
    period: ReportingPeriod,
    first_demo_month: ReportingPeriod,
) -> anyhow::Result<()> {
    let next = period.last_day() + chrono::Duration::days(1);
    for (index, pharmacy) in world.kg_pharmacies.iter().enumerate() {
        let month = KgMonth::load(engine, pharmacy, period).await?;
        if super::period::valid_days(&month.contract, period).is_empty() {
            continue; // not in force in the month: no report is owed (D-13)
        }
        let settle = Settle {
            world,
            month,
            script: Script::of(index, period == first_demo_month),
        };
        settle.before_report().await?;
        settle.report(next).await?;
        if settle.script.dispute {
            disputes::file_late(&settle.month, &settle.state().await?).await?;
        }
        settle
            .approve_and_pay(next + chrono::Duration::days(9))
            .await?;
    }
    Ok(())
}

struct Settle<'a> {
    world: &'a World,
    month: KgMonth<'a>,
    script: Script,
}

impl Settle<'_> {
    async fn run(&self, name: &str, actor: Actor, command: KgPeriodCommand) -> anyhow::Result<()> {
        let step = self.month.step(name);
        if let Err(refusal) = self.month.execute(&step, actor, vec![command]).await? {
            bail!("KG settlement step {step} was refused: {refusal}");
        }
        Ok(())
    }

    async fn state(&self) -> anyhow::Result<KgPeriodState> {
        let engine = self.month.engine;
        let (state, _) = engine
            .kg_periods
            .load(&*engine.log, &self.month.stream())
            .await?;
        Ok(state)
    }

    fn report_no(&self) -> anyhow::Result<DocumentNumber> {
        value(DocumentNumber::new(format!(
            "KGR-{}-{}",
            self.month.pharmacy.contract_id,
            self.month.period.key()
        )))
    }

    /// The month's scripted dispute and recovery, before its report.
    async fn before_report(&self) -> anyhow::Result<()> {
        if self.script.dispute {
            let state = self.state().await?;
            disputes::file_and_resolve(&self.month, self.world, &state).await?;
        }
        if self.script.recovery {
            self.assess_recovery().await?;
        }
        Ok(())
    }

    /// an inspection act finds a faulty prescription dispensed in the month; the
    /// pharmacy owes 500.00 KGS, assessed on the 20th.
    async fn assess_recovery(&self) -> anyhow::Result<()> {
        let month = &self.month;
        let key = format!("{}-{}", month.pharmacy.contract_id, month.period.key());
        let assessed_on = month.period.first_day() + chrono::Duration::days(19);
        let debtor = Debtor::Pharmacy(month.pharmacy.tin.to_string());
        let assessment = RecoveryAssessed {
            recovery_id: format!("REC-{key}"),
            debtor: debtor.clone(),
            ground: RecoveryGround::FaultyAfterDispensing,
            inspection_act_ref: format!("INS-{key}"),
            amount: Money::new(50_000, Currency::KGS),
            assessed_on,
        };
        let engine = month.engine;
        let step = format!("{}/{}", recovery_stream(&debtor), assessment.recovery_id);
        let meta = engine.meta(
            &step,
            kg_local(assessed_on, 12),
            Jurisdiction::KG,
            mhif_actor(self.world),
        );
        let command_id = meta.command_id;
        let command = Command {
            meta,
            command: assessment,
        };
        let stream_id = stream(recovery_stream(&debtor));
        if let Handled::Rejected(refusal) = engine
            .recoveries
            .execute(&*engine.log, &stream_id, command_id, &command, &())
            .await?
        {
            bail!("the recovery {step} was refused: {refusal}");
        }
        Ok(())
    }

    /// D-13, P-09: the report on the 5th; the scripted one is rejected on the 6th with the reason
    /// naming its last line, which the pharmacy reverses, and resubmitted on the 7th.
    async fn report(&self, next: NaiveDate) -> anyhow::Result<()> {
        let state = self.state().await?;
        if state.report.is_some() {
            return Ok(()); // submitted by an earlier run of the same demo
        }
        let submit = |on: NaiveDate| -> anyhow::Result<KgPeriodCommand> {
            Ok(KgPeriodCommand::SubmitPaymentReport(
                SubmitKgPaymentReport {
                    report_no: self.report_no()?,
                    submitted_at: kg_local(on, 10),
                },
            ))
        };
        let pharmacy = pharmacy_actor(self.month.pharmacy);
        let fifth = next + chrono::Duration::days(4);
        self.run("report", pharmacy.clone(), submit(fifth)?).await?;
        let last_line = state.lines().last().map(|line| line.dispensing_id.clone());
        let (true, Some(line)) = (self.script.reject_first, last_line) else {
            return Ok(());
        };
        let sixth = fifth + chrono::Duration::days(1);
        let reasons = vec![format!(
            "line \"{line}\": the prescription copy in the pharmacy's file is unsigned (P-09)"
        )];
        let reject = KgPeriodCommand::RejectPaymentReport(RejectKgPaymentReport {
            rejected_at: kg_local(sixth, 11),
            reasons,
        });
        self.run("report/reject", mhif_actor(self.world), reject)
            .await?;
        let reverse = KgPeriodCommand::ReverseDispensing(ReverseKgDispensing {
            dispensing_id: line,
            reversed_at: kg_local(sixth, 15),
            reason: "withdrawn after the MHIF's review: unsigned prescription copy".to_owned(),
        });
        self.run("report/correct", pharmacy.clone(), reverse)
            .await?;
        let seventh = sixth + chrono::Duration::days(1);
        self.run("report/resubmit", pharmacy, submit(seventh)?)
            .await
    }

    /// Approves the report as (last) submitted, with the pharmacy's recoveries offset, commits
    /// its net payable on the budget and pays it.
    async fn approve_and_pay(&self, approved_on: NaiveDate) -> anyhow::Result<()> {
        let state = self.state().await?;
        let report = state.report.clone().expect("the report was submitted");
        if state.approved.is_none() {
            let command = KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
                content_hash: report.content_hash,
                approved_at: kg_local(approved_on, 11),
            });
            self.run("approve", mhif_actor(self.world), command).await?;
        }
        let state = self.state().await?;
        let net = state.approved.as_ref().expect("approved").net_payable;
        if net.minor == 0 {
            return Ok(()); // nothing to pay (a month without sales, or all offset)
        }
        let paid_on = approved_on + chrono::Duration::days(5);
        self.budget(net, approved_on, paid_on).await?;
        if state.paid.minor < net.minor {
            let command = KgPeriodCommand::PaySettlement(PayKgSettlement {
                payment_order: value(DocumentNumber::new(format!("{}-PO", report.report_no)))?,
                paid_at: kg_local(paid_on, 12),
                amount: net,
            });
            self.run("pay", mhif_actor(self.world), command).await?;
        }
        Ok(())
    }

    /// B-07: the KG budget line of the pharmacy's region records the commitment at approval and the
    /// payment.
    async fn budget(
        &self,
        net: Money,
        approved_on: NaiveDate,
        paid_on: NaiveDate,
    ) -> anyhow::Result<()> {
        let service = value(ServiceMonth::new(
            self.month.period.first_day().year(),
            self.month.period.first_day().month(),
        ))?;
        let fiscal_year = ledger::domain::budget::fiscal_year_of_payment(Jurisdiction::KG, service);
        let budget = value(BudgetId::new(
            Jurisdiction::KG,
            Programme::KgChiAdditional,
            fiscal_year,
        ))?;
        let report_ref = self.report_no()?.to_string();
        let region = self.month.pharmacy.region;
        let commit = BudgetCommand::Commit(Commit {
            region,
            amount: net,
            act_ref: report_ref.clone(),
            on: approved_on,
        });
        let engine = self.month.engine;
        engine
            .budget(
                &format!("{report_ref}/commit"),
                kg_local(approved_on, 17),
                budget,
                commit,
            )
            .await?;
        let pay = BudgetCommand::Pay(Pay {
            region,
            amount: net,
            payment_ref: format!("{report_ref}-PO"),
            act_ref: report_ref.clone(),
            service_month: service,
            on: paid_on,
        });
        engine
            .budget(
                &format!("{report_ref}/pay"),
                kg_local(paid_on, 13),
                budget,
                pay,
            )
            .await
    }
}
