//! Which aggregate a JSON command goes to, checked against the stream it names (DESIGN §1: the stream
//! id says which aggregate instance a command is decided against, so a command on the wrong kind of
//! stream is refused before anything is loaded).

use ledger::domain::breach::RecordDeadlineBreach;
use ledger::domain::budget::{self, BudgetCommand, BudgetId};
use ledger::domain::contract::ContractCommand;
use ledger::domain::contract::kg::KgContractCommand;
use ledger::domain::ident::Bin;
use ledger::domain::jurisdiction::Jurisdiction;
use ledger::domain::keys::KeyCommand;
use ledger::domain::kg::ReferenceBookPublished;
use ledger::domain::kg::recovery::{Debtor, RecoveryAssessed};
use ledger::domain::period::PeriodCommand;
use ledger::domain::period::kg::KgPeriodCommand;
use ledger::domain::prices::PublishPriceList;
use ledger::domain::region::Programme;
use ledger::domain::seal::{self, SealPeriod};
use ledger::domain::values::ReportingPeriod;

use super::Refusal;
use super::dispute::{KgDisputeCommand, dispute_stream};
use super::wire::{CommandEnvelope, WireCommand};

/// A command routed to its aggregate, with what its stream id says.
#[derive(Debug, Clone)]
pub enum Target {
    Contract(ContractCommand),
    Period {
        contract_id: String,
        period: ReportingPeriod,
        command: PeriodCommand,
    },
    PriceList(PublishPriceList),
    Key {
        bin: Bin,
        command: KeyCommand,
    },
    Budget {
        id: BudgetId,
        command: BudgetCommand,
    },
    /// A KG contract command on `contract/<id>` (S002 §27–§30).
    KgContract(KgContractCommand),
    /// A KG settlement command on `period/<contract-id>/<YYYY-MM>` (S002 §33–§53).
    KgPeriod {
        contract_id: String,
        period: ReportingPeriod,
        command: KgPeriodCommand,
    },
    /// A new version of the KG Reference Book, `reference/kg-reference-book` (M-10, A-28).
    ReferenceBook(ReferenceBookPublished),
    /// A recovery assessed against its debtor, `recovery/<debtor-kind>/<id>`.
    Recovery(RecoveryAssessed),
    /// A KG prescription dispute, `contract/<contract-id>/dispute/<dispute-id>` (X-01… ).
    KgDispute {
        contract_id: String,
        dispute_id: String,
        command: KgDisputeCommand,
    },
    /// The Fund's seal of a month, `seal/<jurisdiction>/<YYYY-MM>` (issue #15, SEAL-01…SEAL-04).
    Seal(SealPeriod),
}

/// The stream of the KG Reference Book (one for the programme).
pub const REFERENCE_BOOK_STREAM: &str = "reference/kg-reference-book";

/// The stream holding the recoveries assessed against `debtor`: one stream per debtor, so that the
/// writer reads a pharmacy's outstanding debts in one stream read when it settles.
pub fn recovery_stream(debtor: &Debtor) -> String {
    match debtor {
        Debtor::Pharmacy(id) => format!("recovery/pharmacy/{id}"),
        Debtor::PrescribingOrganisation(id) => format!("recovery/organisation/{id}"),
        Debtor::Doctor(id) => format!("recovery/doctor/{id}"),
    }
}

/// Routes `envelope` to its aggregate; refuses a stream of the wrong kind or shape, and a jurisdiction
/// other than the one the command or its stream states.
pub fn route(envelope: &CommandEnvelope) -> Result<Target, Refusal> {
    let target = target(envelope)?;
    let stated = match &target {
        Target::Contract(ContractCommand::ReceiveApplication(command)) => {
            Some(command.jurisdiction)
        }
        Target::PriceList(command) => Some(command.jurisdiction),
        Target::Seal(command) => Some(command.seal.jurisdiction),
        Target::Budget { id, .. } => Some(id.jurisdiction()),
        Target::KgContract(_)
        | Target::KgPeriod { .. }
        | Target::ReferenceBook(_)
        | Target::Recovery(_)
        | Target::KgDispute { .. } => Some(Jurisdiction::KG),
        Target::Contract(_) | Target::Period { .. } | Target::Key { .. } => None,
    };
    match stated {
        Some(stated) if stated != envelope.jurisdiction => Err(jurisdiction_refusal(
            envelope.jurisdiction,
            stated,
            &envelope.stream.to_string(),
        )),
        _ => Ok(target),
    }
}

/// Implements A-15 at the edge: a command is decided under the calendar and rules of the jurisdiction
/// its contract, price list or budget belongs to, never under another one's.
pub fn jurisdiction_refusal(given: Jurisdiction, stated: Jurisdiction, object: &str) -> Refusal {
    Refusal {
        rule: "A-15".into(),
        field: Some("jurisdiction".into()),
        message: format!(
            "the envelope says {given}, but \"{object}\" belongs to {stated}; a command is decided under its own jurisdiction's rules"
        ),
    }
}

fn target(envelope: &CommandEnvelope) -> Result<Target, Refusal> {
    let segments: Vec<&str> = envelope.stream.as_str().split('/').collect();
    match envelope.command.clone() {
        WireCommand::ReceiveApplication(command) => {
            let contract_id = contract_of(&segments, envelope)?;
            if command.contract_id.as_str() != contract_id {
                return Err(stream_refusal(
                    envelope,
                    &format!("contract/{}", command.contract_id),
                ));
            }
            Ok(Target::Contract(ContractCommand::ReceiveApplication(
                command,
            )))
        }
        WireCommand::ReviewApplication(command) => contract(
            &segments,
            envelope,
            ContractCommand::ReviewApplication(command),
        ),
        WireCommand::ChangePharmacyNetwork(command) => contract(
            &segments,
            envelope,
            ContractCommand::ChangePharmacyNetwork(command),
        ),
        WireCommand::ChangeIssCertification(command) => contract(
            &segments,
            envelope,
            ContractCommand::ChangeIssCertification(command),
        ),
        WireCommand::SendTerminationNotice(command) => contract(
            &segments,
            envelope,
            ContractCommand::SendTerminationNotice(command),
        ),
        WireCommand::ReceiveTerminationNotice(command) => contract(
            &segments,
            envelope,
            ContractCommand::ReceiveTerminationNotice(command),
        ),
        WireCommand::PublishPriceList(command) => {
            let expected = format!("reference/prices/{}", command.jurisdiction);
            if envelope.stream.as_str() != expected {
                return Err(stream_refusal(envelope, &expected));
            }
            Ok(Target::PriceList(command))
        }
        WireCommand::RegisterSigningKey(command) => {
            key(&segments, envelope, KeyCommand::Register(command))
        }
        WireCommand::SealPeriod(command) => {
            let expected = seal::stream_id(command.seal.jurisdiction, command.seal.period);
            if envelope.stream.as_str() != expected {
                return Err(stream_refusal(envelope, &expected));
            }
            Ok(Target::Seal(command))
        }
        WireCommand::RevokeSigningKey(command) => {
            key(&segments, envelope, KeyCommand::Revoke(command))
        }
        WireCommand::RecordDeadlineBreach(command) => breach(&segments, envelope, command),
        other => period_or_budget(&segments, envelope, other),
    }
}

/// The Kyrgyz commands: contract, settlement, Reference Book and recovery.
fn kg_target(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: WireCommand,
) -> Result<Target, Refusal> {
    let kg_contract = |command: KgContractCommand| {
        contract_of(segments, envelope)?;
        Ok(Target::KgContract(command))
    };
    let kg_period = |command: KgPeriodCommand| {
        let (contract_id, period) = period_of(segments, envelope)?;
        Ok(Target::KgPeriod {
            contract_id,
            period,
            command,
        })
    };
    match command {
        WireCommand::ReceiveKgContractApplication(command) => {
            let contract_id = contract_of(segments, envelope)?;
            if command.contract_id.as_str() != contract_id {
                return Err(stream_refusal(
                    envelope,
                    &format!("contract/{}", command.contract_id),
                ));
            }
            kg_contract(command.into())
        }
        WireCommand::ConcludeKgContract(command) => kg_contract(command.into()),
        WireCommand::RefuseKgContract(command) => kg_contract(command.into()),
        WireCommand::FileKgContractObjection(command) => kg_contract(command.into()),
        WireCommand::DecideKgContractRenewal(command) => kg_contract(command.into()),
        WireCommand::RecordKgDispensing(command) => {
            kg_period(KgPeriodCommand::RecordDispensing(command))
        }
        WireCommand::ReverseKgDispensing(command) => {
            kg_period(KgPeriodCommand::ReverseDispensing(command))
        }
        WireCommand::SubmitKgPaymentReport(command) => {
            kg_period(KgPeriodCommand::SubmitPaymentReport(command))
        }
        WireCommand::ApproveKgPaymentReport(command) => {
            kg_period(KgPeriodCommand::ApprovePaymentReport(command))
        }
        WireCommand::RejectKgPaymentReport(command) => {
            kg_period(KgPeriodCommand::RejectPaymentReport(command))
        }
        WireCommand::PayKgSettlement(command) => kg_period(KgPeriodCommand::PaySettlement(command)),
        WireCommand::PublishReferenceBook(command) => {
            if envelope.stream.as_str() != REFERENCE_BOOK_STREAM {
                return Err(stream_refusal(envelope, REFERENCE_BOOK_STREAM));
            }
            Ok(Target::ReferenceBook(command))
        }
        WireCommand::AssessRecovery(command) => {
            let expected = recovery_stream(&command.debtor);
            if envelope.stream.as_str() != expected {
                return Err(stream_refusal(envelope, &expected));
            }
            Ok(Target::Recovery(command))
        }
        WireCommand::FileKgDisputeClaim(command) => {
            let expected = dispute_stream(command.contract_id.as_str(), &command.dispute_id);
            if envelope.stream.as_str() != expected {
                return Err(stream_refusal(envelope, &expected));
            }
            dispute(segments, envelope, KgDisputeCommand::File(command))
        }
        WireCommand::ResolveKgDispute(command) => {
            dispute(segments, envelope, KgDisputeCommand::Resolve(command))
        }
        routed_above => unreachable!("{} is routed by `route`", routed_above.type_name()),
    }
}

fn period_or_budget(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: WireCommand,
) -> Result<Target, Refusal> {
    let period = |command: PeriodCommand| period(segments, envelope, command);
    let budget = |command: BudgetCommand| budget(segments, envelope, command);
    match command {
        WireCommand::RecordDispensing(command) => period(PeriodCommand::RecordDispensing(command)),
        WireCommand::ReverseDispensing(command) => {
            period(PeriodCommand::ReverseDispensing(command))
        }
        WireCommand::SubmitRegistry(command) => period(PeriodCommand::SubmitRegistry(command)),
        WireCommand::ReceiveRegistry(command) => period(PeriodCommand::ReceiveRegistry(command)),
        WireCommand::ApproveRegistry(command) => period(PeriodCommand::ApproveRegistry(command)),
        WireCommand::RejectRegistry(command) => period(PeriodCommand::RejectRegistry(command)),
        WireCommand::SubmitPaymentAct(command) => period(PeriodCommand::SubmitPaymentAct(command)),
        WireCommand::ReceivePaymentAct(command) => {
            period(PeriodCommand::ReceivePaymentAct(command))
        }
        WireCommand::SignPaymentAct(command) => period(PeriodCommand::SignPaymentAct(command)),
        WireCommand::SuspendPaymentClock(command) => {
            period(PeriodCommand::SuspendPaymentClock(command))
        }
        WireCommand::ResumePaymentClock(command) => {
            period(PeriodCommand::ResumePaymentClock(command))
        }
        WireCommand::MakePayment(command) => period(PeriodCommand::MakePayment(command)),
        WireCommand::AllocateBudget(command) => budget(BudgetCommand::Allocate(command)),
        WireCommand::TransferBudgetToFund(command) => {
            budget(BudgetCommand::TransferToFund(command))
        }
        WireCommand::CommitBudget(command) => budget(BudgetCommand::Commit(command)),
        WireCommand::PayFromBudget(command) => budget(BudgetCommand::Pay(command)),
        WireCommand::RedistributeBudget(command) => budget(BudgetCommand::Redistribute(command)),
        WireCommand::CloseBudgetYear(command) => budget(BudgetCommand::CloseYear(command)),
        WireCommand::ChargeCarriedOverrun(command) => {
            budget(BudgetCommand::ChargeCarriedOverrun(command))
        }
        kg @ (WireCommand::ReceiveKgContractApplication(_)
        | WireCommand::ConcludeKgContract(_)
        | WireCommand::RefuseKgContract(_)
        | WireCommand::FileKgContractObjection(_)
        | WireCommand::DecideKgContractRenewal(_)
        | WireCommand::RecordKgDispensing(_)
        | WireCommand::ReverseKgDispensing(_)
        | WireCommand::SubmitKgPaymentReport(_)
        | WireCommand::ApproveKgPaymentReport(_)
        | WireCommand::RejectKgPaymentReport(_)
        | WireCommand::PayKgSettlement(_)
        | WireCommand::PublishReferenceBook(_)
        | WireCommand::AssessRecovery(_)
        | WireCommand::FileKgDisputeClaim(_)
        | WireCommand::ResolveKgDispute(_)) => kg_target(segments, envelope, kg),
        routed_above => unreachable!("{} is routed by `route`", routed_above.type_name()),
    }
}

/// A breach goes to the stream whose clock it is (issue #17): a contract's (CONTRACT_REVIEW,
/// KG_REFUSAL) or a period's (the registry, act and payment clocks, KG_PAYMENT_REPORT), decided by
/// the aggregate of the envelope's jurisdiction (A-15; a mismatch with the contract is refused by the
/// writer).
fn breach(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: RecordDeadlineBreach,
) -> Result<Target, Refusal> {
    let kg = envelope.jurisdiction == Jurisdiction::KG;
    match segments.first() {
        Some(&"contract") => {
            contract_of(segments, envelope)?;
            Ok(if kg {
                Target::KgContract(KgContractCommand::RecordDeadlineBreach(command))
            } else {
                Target::Contract(ContractCommand::RecordDeadlineBreach(command))
            })
        }
        _ => {
            let (contract_id, period) = period_of(segments, envelope)?;
            Ok(if kg {
                Target::KgPeriod {
                    contract_id,
                    period,
                    command: KgPeriodCommand::RecordDeadlineBreach(command),
                }
            } else {
                Target::Period {
                    contract_id,
                    period,
                    command: PeriodCommand::RecordDeadlineBreach(command),
                }
            })
        }
    }
}

fn stream_refusal(envelope: &CommandEnvelope, expected: &str) -> Refusal {
    Refusal {
        rule: "DESIGN §1".into(),
        field: Some("stream".into()),
        message: format!(
            "a {} command goes to a stream like \"{expected}\", not \"{}\"",
            envelope.command.type_name(),
            envelope.stream
        ),
    }
}

fn contract_of<'s>(segments: &[&'s str], envelope: &CommandEnvelope) -> Result<&'s str, Refusal> {
    match segments {
        ["contract", contract_id] => Ok(contract_id),
        _ => Err(stream_refusal(envelope, "contract/<contract-id>")),
    }
}

fn contract(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: ContractCommand,
) -> Result<Target, Refusal> {
    contract_of(segments, envelope)?;
    Ok(Target::Contract(command))
}

fn period(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: PeriodCommand,
) -> Result<Target, Refusal> {
    let (contract_id, period) = period_of(segments, envelope)?;
    Ok(Target::Period {
        contract_id,
        period,
        command,
    })
}

/// `period/<contract-id>/<YYYY-MM>`: the contract and the month of a period stream (KZ or KG).
fn period_of(
    segments: &[&str],
    envelope: &CommandEnvelope,
) -> Result<(String, ReportingPeriod), Refusal> {
    let refuse = || stream_refusal(envelope, "period/<contract-id>/<YYYY-MM>");
    let ["period", contract_id, month] = segments else {
        return Err(refuse());
    };
    let (year, month) = month.split_once('-').ok_or_else(refuse)?;
    let year: i32 = year.parse().map_err(|_| refuse())?;
    let month: u32 = month.parse().map_err(|_| refuse())?;
    let period = ReportingPeriod::month(year, month).map_err(|_| refuse())?;
    Ok(((*contract_id).to_owned(), period))
}

/// `contract/<contract-id>/dispute/<dispute-id>`: the dispute and the contract it is filed under.
fn dispute(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: KgDisputeCommand,
) -> Result<Target, Refusal> {
    let ["contract", contract_id, "dispute", dispute_id] = segments else {
        return Err(stream_refusal(
            envelope,
            &dispute_stream("<contract-id>", "<dispute-id>"),
        ));
    };
    Ok(Target::KgDispute {
        contract_id: (*contract_id).to_owned(),
        dispute_id: (*dispute_id).to_owned(),
        command,
    })
}

/// `keys/<BIN>`: the organisation whose key ring the command changes.
fn key(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: KeyCommand,
) -> Result<Target, Refusal> {
    let refuse = || stream_refusal(envelope, "keys/<BIN>");
    let ["keys", bin] = segments else {
        return Err(refuse());
    };
    let bin: Bin = bin.parse().map_err(|_| refuse())?;
    Ok(Target::Key { bin, command })
}

/// `budget/<jurisdiction>/<programme>/<fiscal-year>`: the budget the command changes.
fn budget(
    segments: &[&str],
    envelope: &CommandEnvelope,
    command: BudgetCommand,
) -> Result<Target, Refusal> {
    let refuse = || stream_refusal(envelope, "budget/<jurisdiction>/<programme>/<fiscal-year>");
    let ["budget", jurisdiction, programme, year] = segments else {
        return Err(refuse());
    };
    let jurisdiction: Jurisdiction = jurisdiction.parse().map_err(|_| refuse())?;
    let programme: Programme = programme.parse().map_err(|_| refuse())?;
    let year: i32 = year.parse().map_err(|_| refuse())?;
    let id = BudgetId::new(jurisdiction, programme, budget::FiscalYear(year)).map_err(|error| {
        Refusal {
            rule: error.rule().to_owned(),
            field: Some("stream".into()),
            message: error.to_string(),
        }
    })?;
    Ok(Target::Budget { id, command })
}
