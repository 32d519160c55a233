//! A KG contract's month settled: the payment report (D-13), its approval and the payment of the net
//! payable (P-09), committed and paid on the KG budget of the pharmacy's region (B-07).

use anyhow::bail;
use chrono::{Datelike, NaiveDate};
use ledger::domain::budget::{BudgetCommand, BudgetId, Commit, Pay, ServiceMonth};
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::money::Money;
use ledger::domain::period::kg::{
    ApproveKgPaymentReport, KgPeriodCommand, KgPeriodState, PayKgSettlement, SubmitKgPaymentReport,
};
use ledger::domain::region::Programme;
use ledger::domain::values::{DocumentNumber, ReportingPeriod};
use ledger::log::Actor;

use super::period::KgMonth;
use super::{kg_local, mhif_actor, pharmacy_actor, value};
use crate::demo::engine::Engine;
use crate::demo::world::World;

/// D-13, P-09: the pharmacy submits its payment report on the 5th of the next month, the MHIF
/// approves it on the 10th and pays the net payable on the 15th; the KG budget of the pharmacy's
/// region records the commitment and the payment (B-07 decides the fiscal year).
pub async fn settle_month(
    engine: &Engine,
    world: &World,
    period: ReportingPeriod,
) -> anyhow::Result<()> {
    let next = period.last_day() + chrono::Duration::days(1);
    for pharmacy in &world.kg_pharmacies {
        let month = KgMonth::load(engine, pharmacy, period).await?;
        let (state, _) = engine
            .kg_periods
            .load(&*engine.log, &month.stream())
            .await?;
        if state.dispensings.is_empty() {
            continue;
        }
        let settle = Settle { world, month };
        settle
            .submit(&state, next + chrono::Duration::days(4))
            .await?;
        settle
            .approve_and_pay(next + chrono::Duration::days(9))
            .await?;
    }
    Ok(())
}

struct Settle<'a> {
    world: &'a World,
    month: KgMonth<'a>,
}

impl Settle<'_> {
    async fn run(&self, name: &str, actor: Actor, command: KgPeriodCommand) -> anyhow::Result<()> {
        let step = self.month.step(name);
        if let Err(refusal) = self.month.execute(&step, actor, vec![command]).await? {
            bail!("KG settlement step {step} was refused: {refusal}");
        }
        Ok(())
    }

    async fn submit(&self, state: &KgPeriodState, on: NaiveDate) -> anyhow::Result<()> {
        if state.report.is_some() {
            return Ok(()); // submitted by an earlier run of the same demo
        }
        let report_no = value(DocumentNumber::new(format!(
            "KGR-{}-{}",
            self.month.pharmacy.contract_id,
            self.month.period.key()
        )))?;
        let command = KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
            report_no,
            submitted_at: kg_local(on, 10),
        });
        self.run("report", pharmacy_actor(self.month.pharmacy), command)
            .await
    }

    /// Approves the report as submitted, commits its net payable on the budget and pays it.
    async fn approve_and_pay(&self, approved_on: NaiveDate) -> anyhow::Result<()> {
        let engine = self.month.engine;
        let stream_id = self.month.stream();
        let (state, _) = engine.kg_periods.load(&*engine.log, &stream_id).await?;
        let report = state.report.clone().expect("the report was submitted");
        if state.approved.is_none() {
            let command = KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
                content_hash: report.content_hash,
                approved_at: kg_local(approved_on, 11),
            });
            self.run("approve", mhif_actor(self.world), command).await?;
        }
        let (state, _) = engine.kg_periods.load(&*engine.log, &stream_id).await?;
        let net = state.approved.as_ref().expect("approved").net_payable;
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
        let report_ref = format!(
            "KGR-{}-{}",
            self.month.pharmacy.contract_id,
            self.month.period.key()
        );
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
