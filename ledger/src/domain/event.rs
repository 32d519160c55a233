//! The one flat enum of every domain fact, and its wire form ([`Payload`]).
//!
//! One variant per past-tense fact, each wrapping a struct of the same name (STYLE §2.3). The payload's
//! `event_type` is the variant name and `schema_version` the struct's current version; decoding an
//! older version goes through an upcaster in [`Event::from_payload`] (STYLE §2.8). Budget, key and KG
//! events (branch `domain2`) are wired in here by the lead.
//!
//! Wire rule (bincode 2, serde mode): plain structs and externally tagged enums only; no `flatten`,
//! `untagged`, internally or adjacently tagged enums, `skip_serializing_if` or `deserialize_any`.

use crate::codec::{self, CodecError};
use crate::log::Payload;

use super::breach::DeadlineBreached;
use super::budget::{
    BudgetAllocated, BudgetCommitted, BudgetEvent, BudgetOverrunCarriedForward,
    BudgetOverrunCharged, BudgetPaid, BudgetRedistributed, BudgetTransferredToFund,
    BudgetYearClosed,
};
use super::calendar::CalendarPublished;
use super::contract::events::{
    ContractApplicationReceived, ContractConcluded, ContractRefused, IssCertificationChanged,
    PharmacyNetworkChanged, TerminationGroundDetected, TerminationNoticeReceived,
    TerminationNoticeSent,
};
use super::contract::kg::{
    ContractExpired, ContractObjectionFiled, ContractRenewed, KgContractApplicationReceived,
    KgContractConcluded,
};
use super::keys::{KeyEvent, SigningKeyRegistered, SigningKeyRevoked};
use super::kg::ReferenceBookPublished;
use super::kg::dispute::{DisputeClaimFiled, DisputeEvent, DisputeResolved};
use super::kg::recovery::{RecoveryAssessed, RecoveryEvent, RecoveryOffset};
use super::period::events::{
    DispensingRecorded, DispensingReversed, PaymentActReceived, PaymentActSigned,
    PaymentActSubmitted, PaymentClockResumed, PaymentClockSuspended, PaymentMade, RegistryApproved,
    RegistryReceived, RegistryRejected, RegistrySubmitted,
};
use super::period::kg::events::{
    KgDispensingRecorded, KgDispensingReversed, KgPaymentReportApproved, KgPaymentReportRejected,
    KgPaymentReportSubmitted, KgSettlementPaid,
};
use super::prices::PriceListPublished;
use super::seal::PeriodSealed;

impl Event {
    /// The business time of the fact (the envelope's `occurred_at`): when it happened, not when it
    /// was recorded.
    ///
    /// `None` for reference, budget, key and KG dispute or recovery facts, which carry their own
    /// dates and take no part in a stream's step ordering.
    pub fn occurred_at(&self) -> Option<crate::domain::time::Timestamp> {
        match self {
            Event::ContractApplicationReceived(event) => Some(event.received_at),
            Event::ContractConcluded(event) => Some(event.concluded_at),
            Event::ContractRefused(event) => Some(event.refused_at),
            Event::PharmacyNetworkChanged(event) => Some(event.changed_at),
            Event::IssCertificationChanged(event) => Some(event.changed_at),
            Event::TerminationGroundDetected(event) => Some(event.detected_at),
            Event::TerminationNoticeSent(event) => Some(event.sent_at),
            Event::TerminationNoticeReceived(event) => Some(event.received_at),
            Event::KgContractApplicationReceived(event) => Some(event.received_at),
            Event::KgContractConcluded(event) => Some(event.concluded_at),
            Event::ContractObjectionFiled(event) => Some(event.filed_at),
            Event::ContractRenewed(event) => Some(event.renewed_at),
            Event::ContractExpired(event) => Some(event.expired_at),
            Event::PriceListPublished(event) => Some(event.published_at),
            Event::DispensingRecorded(event) => Some(event.dispensed_at),
            Event::DispensingReversed(event) => Some(event.reversed_at),
            Event::RegistrySubmitted(event) => Some(event.submitted_at),
            Event::RegistryReceived(event) => Some(event.received_at),
            Event::RegistryApproved(event) => Some(event.approved_at),
            Event::RegistryRejected(event) => Some(event.rejected_at),
            Event::PaymentActSubmitted(event) => Some(event.submitted_at),
            Event::PaymentActReceived(event) => Some(event.received_at),
            Event::PaymentActSigned(event) => Some(event.signed_at),
            Event::PaymentClockSuspended(event) => Some(event.suspended_at),
            Event::PaymentClockResumed(event) => Some(event.resumed_at),
            Event::PaymentMade(event) => Some(event.paid_at),
            Event::KgDispensingRecorded(event) => Some(event.dispensed_at),
            Event::KgDispensingReversed(event) => Some(event.reversed_at),
            Event::KgPaymentReportSubmitted(event) => Some(event.submitted_at),
            Event::KgPaymentReportApproved(event) => Some(event.approved_at),
            Event::KgPaymentReportRejected(event) => Some(event.rejected_at),
            Event::KgSettlementPaid(event) => Some(event.paid_at),
            Event::DeadlineBreached(event) => Some(event.breached_at),
            _ => None,
        }
    }
}

/// Why a payload could not become an [`Event`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unknown event type \"{event_type}\"")]
    UnknownType { event_type: String },
    #[error(
        "event type \"{event_type}\" has no schema version {found} (this build reads up to {current})"
    )]
    UnknownVersion {
        event_type: String,
        found: u16,
        current: u16,
    },
    #[error("event \"{event_type}\" v{version} does not decode: {source}")]
    Codec {
        event_type: String,
        version: u16,
        #[source]
        source: CodecError,
    },
}

macro_rules! events {
    ($($name:ident = $version:literal),+ $(,)?) => {
        /// Every fact the domain records.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum Event {
            $($name($name),)+
        }

        impl Event {
            /// The JSON Schema of every event struct at its current schema version.
            pub fn json_schemas() -> Vec<(&'static str, u16, schemars::Schema)> {
                vec![$((stringify!($name), $version, schemars::schema_for!($name)),)+]
            }

            /// Every event type name with its current schema version.
            pub const TYPES: &'static [(&'static str, u16)] = &[$((stringify!($name), $version),)+];

            /// The variant name, e.g. `RegistrySubmitted`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name),)+
                }
            }

            /// The current schema version of this event's struct.
            pub fn schema_version(&self) -> u16 {
                match self {
                    $(Event::$name(_) => $version,)+
                }
            }

            /// Encodes the wrapped struct with the codec.
            pub fn to_payload(&self) -> Result<Payload, CodecError> {
                let data = match self {
                    $(Event::$name(inner) => codec::encode(inner)?,)+
                };
                Ok(Payload {
                    event_type: self.event_type().to_owned(),
                    schema_version: self.schema_version(),
                    data,
                })
            }

            /// Decodes a payload of any known version, upcasting older versions to the current one.
            pub fn from_payload(payload: &Payload) -> Result<Event, EventError> {
                let codec_error = |source| EventError::Codec {
                    event_type: payload.event_type.clone(),
                    version: payload.schema_version,
                    source,
                };
                if let Some(upcast) = super::upcast::upcast(payload) {
                    return upcast.map_err(codec_error);
                }
                match payload.event_type.as_str() {
                    $(stringify!($name) => match payload.schema_version {
                        $version => Ok(Event::$name(codec::decode(&payload.data).map_err(codec_error)?)),
                        // Older versions are upcast in `super::upcast` before this match.
                        found => Err(EventError::UnknownVersion {
                            event_type: payload.event_type.clone(),
                            found,
                            current: $version,
                        }),
                    },)+
                    other => Err(EventError::UnknownType { event_type: other.to_owned() }),
                }
            }
        }

        $(impl From<$name> for Event {
            fn from(inner: $name) -> Event {
                Event::$name(inner)
            }
        })+
    };
}

events! {
    ContractApplicationReceived = 1,
    ContractConcluded = 2,
    ContractRefused = 1,
    PharmacyNetworkChanged = 1,
    IssCertificationChanged = 1,
    TerminationGroundDetected = 1,
    TerminationNoticeSent = 1,
    TerminationNoticeReceived = 1,
    KgContractApplicationReceived = 1,
    KgContractConcluded = 2,
    ContractObjectionFiled = 1,
    ContractRenewed = 1,
    ContractExpired = 1,
    PriceListPublished = 1,
    DispensingRecorded = 1,
    DispensingReversed = 1,
    RegistrySubmitted = 2,
    RegistryReceived = 1,
    RegistryApproved = 1,
    RegistryRejected = 1,
    PaymentActSubmitted = 1,
    PaymentActReceived = 1,
    PaymentActSigned = 1,
    PaymentClockSuspended = 1,
    PaymentClockResumed = 1,
    PaymentMade = 1,
    CalendarPublished = 1,
    BudgetAllocated = 1,
    BudgetTransferredToFund = 1,
    BudgetCommitted = 1,
    BudgetPaid = 1,
    BudgetRedistributed = 1,
    BudgetOverrunCarriedForward = 1,
    BudgetOverrunCharged = 1,
    BudgetYearClosed = 1,
    SigningKeyRegistered = 1,
    SigningKeyRevoked = 1,
    ReferenceBookPublished = 1,
    DisputeClaimFiled = 1,
    DisputeResolved = 1,
    RecoveryAssessed = 1,
    RecoveryOffset = 1,
    KgDispensingRecorded = 2,
    KgDispensingReversed = 1,
    KgPaymentReportSubmitted = 1,
    KgPaymentReportApproved = 1,
    KgPaymentReportRejected = 1,
    KgSettlementPaid = 1,
    DeadlineBreached = 1,
    PeriodSealed = 1,
}

/// Lifts the per-module event enums of budgets, keys and the Kyrgyz policy into the one [`Event`].
macro_rules! lift {
    ($from:ident { $($variant:ident),+ $(,)? }) => {
        impl From<$from> for Event {
            fn from(event: $from) -> Event {
                match event {
                    $($from::$variant(inner) => Event::$variant(inner),)+
                }
            }
        }

        impl TryFrom<&Event> for $from {
            type Error = ();

            /// The module event, when `event` is one of the module's (folding a stream's records).
            fn try_from(event: &Event) -> Result<$from, ()> {
                match event {
                    $(Event::$variant(inner) => Ok($from::$variant(inner.clone())),)+
                    _ => Err(()),
                }
            }
        }
    };
}

lift!(BudgetEvent {
    BudgetAllocated,
    BudgetTransferredToFund,
    BudgetCommitted,
    BudgetPaid,
    BudgetRedistributed,
    BudgetOverrunCarriedForward,
    BudgetOverrunCharged,
    BudgetYearClosed,
});
lift!(KeyEvent {
    SigningKeyRegistered,
    SigningKeyRevoked
});
lift!(DisputeEvent {
    DisputeClaimFiled,
    DisputeResolved
});
lift!(RecoveryEvent {
    RecoveryAssessed,
    RecoveryOffset
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_versions_are_errors() {
        let payload = Payload {
            event_type: "NoSuchEvent".into(),
            schema_version: 1,
            data: vec![],
        };
        assert!(matches!(
            Event::from_payload(&payload),
            Err(EventError::UnknownType { .. })
        ));
        let payload = Payload {
            event_type: "RegistryReceived".into(),
            schema_version: 99,
            data: vec![],
        };
        assert!(matches!(
            Event::from_payload(&payload),
            Err(EventError::UnknownVersion { found: 99, .. })
        ));
    }

    /// Every event struct has a JSON Schema (the contract of `schemas/`).
    #[test]
    fn the_event_schema_generates() {
        let schema = schemars::schema_for!(Event);
        let text = serde_json::to_string(&schema).unwrap();
        for (name, _) in Event::TYPES {
            assert!(text.contains(name), "{name} missing from the schema");
        }
    }

    #[test]
    fn every_type_name_is_unique() {
        let mut names: Vec<&str> = Event::TYPES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Event::TYPES.len());
    }
}
