//! Whose contract is it (issue #14 §3): the holder of every contract, folded from the log into the
//! reader's own views like every other view, so that "a pharmacy sees only its own contracts" is
//! decided from the log, as the writer's trust gate decides it (`submit/dispatch/gate.rs`: the
//! applicant of the contract's application), never from a list. Being a view, it is applied
//! atomically with its checkpoint: once the views have applied a position, the holder of every
//! contract with an event at or before it is known (an application precedes every other event of its
//! contract on the contract's partition).

use ledger::domain::event::Event;
use ledger::log::{EventEnvelope, StreamId};
use projector::{ProjectorReader, View, ViewError, ViewRead, ViewTxn};

use crate::auth::Organisation;

/// The view's name in the reader's store.
pub const NAME: &str = "read-owners";

/// The holders of contracts: contract id → BIN (KZ) or taxpayer number (KG).
pub struct OwnerView;

impl View for OwnerView {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, envelope: &EventEnvelope, txn: &mut ViewTxn<'_>) -> Result<(), ViewError> {
        let event_type = envelope.body.payload.event_type.as_str();
        if event_type != "ContractApplicationReceived"
            && event_type != "KgContractApplicationReceived"
        {
            return Ok(());
        }
        let event =
            Event::from_payload(&envelope.body.payload).map_err(|error| ViewError::Event {
                detail: error.to_string(),
            })?;
        let (contract_id, holder) = match &event {
            Event::ContractApplicationReceived(e) => {
                (e.contract_id.to_string(), e.applicant.holder().to_string())
            }
            Event::KgContractApplicationReceived(e) => {
                (e.contract_id.to_string(), e.applicant.as_str().to_owned())
            }
            _ => return Ok(()),
        };
        txn.put(contract_id.into_bytes(), holder.into_bytes());
        Ok(())
    }
}

/// Whose a stream is, as the read policy asks: the contract a stream belongs to (its holder decides),
/// an organisation's own key stream, or nobody's (budgets, reference data, seals, recoveries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Belongs {
    Contract(String),
    Organisation(Organisation),
    Shared,
}

impl Belongs {
    /// `contract/<id>…` and `period/<id>/…` belong to contract `<id>` (its partition key, DESIGN §1);
    /// `keys/<BIN>` to that organisation.
    pub fn of(stream: &StreamId) -> Belongs {
        let mut segments = stream.as_str().split('/');
        match (segments.next(), segments.next()) {
            (Some("contract" | "period"), Some(contract_id)) => {
                Belongs::Contract(contract_id.to_owned())
            }
            (Some("keys"), Some(owner)) => {
                owner.parse().map_or(Belongs::Shared, Belongs::Organisation)
            }
            _ => Belongs::Shared,
        }
    }
}

/// The holder of `contract_id` as far as the views have applied, if it has applied.
pub fn holder<R: ViewRead>(
    reader: &ProjectorReader<R>,
    contract_id: &str,
) -> anyhow::Result<Option<Organisation>> {
    let Some(bytes) = reader.get(NAME, contract_id.as_bytes())? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("view {NAME}: the holder of \"{contract_id}\" is not text"))?;
    let holder = text.parse().map_err(|error| {
        anyhow::anyhow!("view {NAME}: the holder of \"{contract_id}\": {error}")
    })?;
    Ok(Some(holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &str) -> StreamId {
        StreamId::new(text).unwrap()
    }

    #[test]
    fn streams_belong_to_their_contract_or_key_owner() {
        let kz = Belongs::Contract("KZ-001".into());
        assert_eq!(Belongs::of(&stream("contract/KZ-001")), kz);
        assert_eq!(Belongs::of(&stream("period/KZ-001/2026-01")), kz);
        assert_eq!(Belongs::of(&stream("contract/KZ-001/dispute/D-1")), kz);
        assert_eq!(
            Belongs::of(&stream("keys/900101300007")),
            Belongs::Organisation("900101300007".parse().unwrap())
        );
        for shared in [
            "budget/KZ/GOBMP/2026",
            "reference/prices/KZ",
            "seal/KZ/2026-01",
            "keys/not-a-bin",
        ] {
            assert_eq!(Belongs::of(&stream(shared)), Belongs::Shared, "{shared}");
        }
    }
}
