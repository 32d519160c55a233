//! The Kyrgyz steps that drive the engine's aggregates: the KG contract (`contract::kg`) and the KG
//! settlement of a period (`period::kg`).
//!
//! ```text
//! given: contract concluded=2026-03-01            # application and conclusion, clean tax check
//! given: objection on=2027-01-10 party=fund reason="late reports"
//! when: anniversary today=2027-03-01 [renewals=1] [policy=manual]
//! when: refusal filed=2026-05-08 refused=2026-05-12 [reasons="no licence"]
//! when: conclusion on=2026-05-08 checked=2026-05-08 debts=yes|no
//! given: record [id=D-1] [the dispense arguments]  # a dispensing through the KG period aggregate
//! when: reverse id=D-1 at=2026-03-12T09:00 [reason="…"]
//! when: report submitted=2026-04-02T10:00
//! when: review approve on=2026-04-05T10:00 | review reject on=… reasons="…"
//! when: pay amount=110.00 on=2026-04-06T10:00
//! ```

use ledger::domain::context::DecisionContext;
use ledger::domain::contract::events::Party;
use ledger::domain::contract::kg::{
    self as kg_contract, KgContractCommand, KgContractState, TaxDebtCheck,
};
use ledger::domain::error::DomainError;
use ledger::domain::event::Event;
use ledger::domain::period::kg::{
    self as kg_period, ApproveKgPaymentReport, KgPeriodCommand, KgPeriodContext, KgPeriodState,
    NoOtherKgPeriods, PayKgSettlement, RecordKgDispensing, RejectKgPaymentReport,
    ReverseKgDispensing, SubmitKgPaymentReport,
};
use ledger::domain::rules::{RuleBook, RuleParameters, RuleSet};
use ledger::domain::testkit::{AcceptAllSignatures, WeekdayCalendar, fund_bin};
use ledger::domain::values::{ContractId, DocumentNumber, ReportingPeriod};

use super::{
    Jurisdiction, KgDispensing, KgPolicy, KgPrescription, Outcome, PatientLimitSchedule,
    Recoveries, ReferenceBooks, Step, date, fact_of, instant, refusal, som,
};

/// The engine side of the KG world.
#[derive(Default)]
pub struct KgEngine {
    pub contract: KgContractState,
    pub period: KgPeriodState,
    auto_renew_off: bool,
}

/// What a settlement decision reads from the rest of the world.
pub struct Reference<'a> {
    pub books: &'a ReferenceBooks,
    pub limits: &'a PatientLimitSchedule,
    pub policy: &'a KgPolicy,
    pub recoveries: &'a Recoveries,
}

fn rules(auto_renew_off: bool) -> RuleBook {
    let mut parameters = RuleParameters::kg_default();
    if let Some(kg) = parameters.kg_contract.as_mut() {
        kg.auto_renew = !auto_renew_off;
    }
    RuleBook::new(vec![RuleSet {
        jurisdiction: Jurisdiction::KG,
        version: 1,
        effective_from: date("2025-01-01"),
        effective_to: None,
        parameters,
    }])
    .expect("the KG rule set is valid")
}

fn facts(events: &[Event]) -> super::Facts {
    events
        .iter()
        .map(|event| fact_of(event.event_type(), event))
        .collect()
}

fn refused(error: &DomainError) -> super::Refusal {
    refusal(error.rule(), error)
}

fn clean_check(on: &str) -> TaxDebtCheck {
    TaxDebtCheck {
        checked_on: date(on),
        has_debts: false,
        reference: DocumentNumber::new("STS-1").expect("valid number"),
    }
}

impl KgEngine {
    /// Decides one contract command on the world's contract, folding it when accepted.
    fn contract_command(&mut self, command: KgContractCommand) -> Outcome {
        let calendar = WeekdayCalendar::kg();
        let rules = rules(self.auto_renew_off);
        let ctx = DecisionContext {
            calendar: &calendar,
            rules: &rules,
            signatures: &AcceptAllSignatures,
            fund_bin: fund_bin(),
        };
        let events = kg_contract::decide(&self.contract, command, &ctx).map_err(|e| refused(&e))?;
        self.contract = events
            .iter()
            .fold(std::mem::take(&mut self.contract), kg_contract::evolve);
        Ok(facts(&events))
    }

    fn apply(&mut self, on: &str) -> Outcome {
        self.contract_command(KgContractCommand::ReceiveApplication {
            contract_id: ContractId::new("C-1").expect("valid id"),
            received_at: instant(&format!("{on}T09:00")),
            applicant: "01234567890123".parse().expect("valid TIN"),
            name: "Osh Pharm".parse().expect("valid name"),
        })
    }

    fn anniversary(&mut self, step: &Step) -> Outcome {
        self.auto_renew_off = step.get("policy") == Some("manual");
        let renewals: u32 = step
            .get("renewals")
            .unwrap_or("0")
            .parse()
            .expect("renewals");
        for _ in 0..renewals {
            let ends_on = self
                .contract
                .term
                .and_then(|term| term.ends_on)
                .expect("a term");
            let next = ends_on.succ_opt().expect("a next day");
            self.contract_command(KgContractCommand::DecideRenewal {
                at: instant(&format!("{next}T09:00")),
            })?;
        }
        self.contract_command(KgContractCommand::DecideRenewal {
            at: instant(&format!("{}T09:00", step.require("today"))),
        })
    }

    /// The contract steps, or `None` for another verb.
    pub fn contract_step(&mut self, step: &Step) -> Option<Outcome> {
        Some(match step.verb().as_str() {
            "contract" => {
                let on = step.require("concluded");
                self.apply(on).and_then(|_| {
                    self.contract_command(KgContractCommand::Conclude {
                        concluded_at: instant(&format!("{on}T10:00")),
                        tax_check: clean_check(on),
                    })
                })
            }
            "objection" => self.contract_command(KgContractCommand::FileObjection {
                filed_at: instant(&format!("{}T10:00", step.require("on"))),
                party: if step.get("party") == Some("pharmacy") {
                    Party::ContractHolder
                } else {
                    Party::Fund
                },
                reason: step.get("reason").unwrap_or("objection").to_owned(),
            }),
            "anniversary" => self.anniversary(step),
            "refusal" => self.refusal(step),
            "conclusion" => self.conclusion(step),
            _ => return None,
        })
    }

    fn refusal(&mut self, step: &Step) -> Outcome {
        let mut out = self.apply(step.require("filed"))?;
        let refused = self.contract_command(KgContractCommand::Refuse {
            refused_at: instant(&format!("{}T10:00", step.require("refused"))),
            reasons: step.get("reasons").into_iter().map(str::to_owned).collect(),
        })?;
        out.extend(refused);
        Ok(out)
    }

    fn conclusion(&mut self, step: &Step) -> Outcome {
        let on = step.require("on");
        self.apply(on)?;
        self.contract_command(KgContractCommand::Conclude {
            concluded_at: instant(&format!("{on}T10:00")),
            tax_check: TaxDebtCheck {
                has_debts: step.get("debts") == Some("yes"),
                ..clean_check(step.require("checked"))
            },
        })
    }

    /// Decides one settlement command on the world's period (the month of the first dispensing, or
    /// March 2026), folding it when accepted.
    fn period_command(&mut self, command: KgPeriodCommand, reference: &Reference<'_>) -> Outcome {
        let calendar = WeekdayCalendar::kg();
        let rules = rules(self.auto_renew_off);
        let decision = DecisionContext {
            calendar: &calendar,
            rules: &rules,
            signatures: &AcceptAllSignatures,
            fund_bin: fund_bin(),
        };
        let period = self
            .period
            .period
            .unwrap_or_else(|| ReportingPeriod::month(2026, 3).expect("a month"));
        let ctx = KgPeriodContext {
            decision: &decision,
            contract: &self.contract,
            books: reference.books,
            patient_limits: reference.limits,
            policy: reference.policy,
            period,
            history: &NoOtherKgPeriods,
            recoveries: reference.recoveries,
        };
        let events = kg_period::decide(&self.period, command, &ctx).map_err(|e| refused(&e))?;
        self.period = events
            .iter()
            .fold(std::mem::take(&mut self.period), kg_period::evolve);
        Ok(facts(&events))
    }

    /// A dispensing recorded through the KG period aggregate.
    pub fn record(
        &mut self,
        step: &Step,
        prescription: KgPrescription,
        dispensing: KgDispensing,
        reference: &Reference<'_>,
    ) -> Outcome {
        let at = step.get("at").map_or_else(
            || instant(&format!("{}T11:00", dispensing.dispensed_on)),
            instant,
        );
        let command = RecordKgDispensing {
            dispensing_id: step.get("id").unwrap_or("D-1").parse().expect("valid id"),
            dispensed_at: at,
            prescription,
            dispensing,
        };
        self.period_command(
            KgPeriodCommand::RecordDispensing(Box::new(command)),
            reference,
        )
    }

    /// The report, review and payment steps, or `None` for another verb.
    pub fn settlement_step(&mut self, step: &Step, reference: &Reference<'_>) -> Option<Outcome> {
        let command = match step.verb().as_str() {
            "reverse" => KgPeriodCommand::ReverseDispensing(ReverseKgDispensing {
                dispensing_id: step.require("id").parse().expect("valid id"),
                reversed_at: instant(step.require("at")),
                reason: step.get("reason").unwrap_or("correction").to_owned(),
            }),
            "report" => KgPeriodCommand::SubmitPaymentReport(SubmitKgPaymentReport {
                report_no: DocumentNumber::new(step.get("no").unwrap_or("R-1")).expect("number"),
                submitted_at: instant(step.require("submitted")),
            }),
            "review approve" => KgPeriodCommand::ApprovePaymentReport(ApproveKgPaymentReport {
                content_hash: self.period.report.as_ref().map_or_else(
                    || ledger::domain::values::DocumentHash([0; 32]),
                    |report| report.content_hash,
                ),
                approved_at: instant(step.require("on")),
            }),
            "review reject" => KgPeriodCommand::RejectPaymentReport(RejectKgPaymentReport {
                rejected_at: instant(step.require("on")),
                reasons: step.get("reasons").into_iter().map(str::to_owned).collect(),
            }),
            "pay" => KgPeriodCommand::PaySettlement(PayKgSettlement {
                payment_order: DocumentNumber::new(step.get("order").unwrap_or("PO-1"))
                    .expect("number"),
                paid_at: instant(step.require("on")),
                amount: som(step.require("amount")),
            }),
            _ => return None,
        };
        Some(self.period_command(command, reference))
    }
}
