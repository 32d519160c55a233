//! What one principal may read (issue #14 §3, DESIGN §8): the read rules of the one policy, applied
//! per request for a resource. A principal either reads the whole resource (the Fund, regulators,
//! analysts) or only what is its own (a pharmacy: the contracts it holds, from the log), and then
//! every item of a collection, every event of a feed, is checked before it leaves.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger::log::EventEnvelope;

use super::ReadState;
use super::owners::{self, Belongs};
use crate::auth::read_policy::{Patients, ReadGrant, ReadRequest};
use crate::auth::{Organisation, Principal};
use crate::pseudonym::Pseudonymizer;
use crate::submit::Refusal;

/// How long an event of an unknown contract waits for the views to learn its holder (they are
/// behind the log by a batch or two; the holder's application is earlier on the same partition).
const HOLDER_WAIT: Duration = Duration::from_secs(60);

/// One principal reading one resource.
pub struct Viewer {
    pub principal: Principal,
    resource: &'static str,
    /// The grant for everything of the resource (a rule of scope "any"), if there is one.
    everything: Option<ReadGrant>,
    /// The grant for what is the principal's own.
    own: Option<ReadGrant>,
}

impl Viewer {
    /// The principal's reading rights on `resource`; 403 when it may read none of it.
    pub fn new(
        state: &ReadState,
        principal: Principal,
        resource: &'static str,
    ) -> Result<Viewer, Response> {
        let policy = &state.policy;
        let everything = policy
            .authorize_read(
                &principal,
                &ReadRequest {
                    resource,
                    target: resource,
                    owner: None,
                },
            )
            .ok();
        let own = match policy.may_read_some(&principal, resource) {
            Ok(()) => policy
                .authorize_read(
                    &principal,
                    &ReadRequest {
                        resource,
                        target: resource,
                        owner: Some(principal.organisation),
                    },
                )
                .ok(),
            Err(denial) if everything.is_none() => {
                tracing::info!(%principal, resource, "read refused");
                return Err(forbidden(denial.rule, denial.message));
            }
            Err(_) => None,
        };
        Ok(Viewer {
            principal,
            resource,
            everything,
            own,
        })
    }

    /// The grant for something that belongs to `owner` (`None`: nobody's, or unknown).
    pub fn grant(&self, owner: Option<Organisation>) -> Option<&ReadGrant> {
        if let Some(grant) = &self.everything {
            return Some(grant);
        }
        self.own
            .as_ref()
            .filter(|_| owner == Some(self.principal.organisation))
    }

    /// Whether the principal reads the whole resource.
    pub fn sees_everything(&self) -> Option<&ReadGrant> {
        self.everything.as_ref()
    }

    /// The grant for one contract, or the 403 that names it.
    pub fn contract(&self, state: &ReadState, contract_id: &str) -> Result<ReadGrant, Response> {
        if let Some(grant) = &self.everything {
            return Ok(grant.clone());
        }
        let owner = owners::holder(&state.views, contract_id).map_err(internal)?;
        self.grant(owner)
            .cloned()
            .ok_or_else(|| self.refuse(state, &format!("contract/{contract_id}"), owner))
    }

    /// The 403 for reading `target` of `owner`, with the policy's explanation.
    pub fn refuse(&self, state: &ReadState, target: &str, owner: Option<Organisation>) -> Response {
        let read = ReadRequest {
            resource: self.resource,
            target,
            owner,
        };
        let message = match state.policy.authorize_read(&self.principal, &read) {
            Err(denial) => denial.message,
            Ok(_) => format!(
                "{} may not read {} \"{target}\"",
                self.principal, self.resource
            ),
        };
        tracing::info!(principal = %self.principal, resource = self.resource, target, "read refused");
        forbidden(crate::auth::policy::DENY_RULE, message)
    }

    /// The pseudonymizer an answer under `grant` needs, or the refusal when the reader has no key.
    pub fn patients<'a>(
        &self,
        state: &'a ReadState,
        grant: &ReadGrant,
    ) -> Result<Option<&'a Pseudonymizer>, Response> {
        match grant.patients {
            Patients::Clear => Ok(None),
            Patients::Pseudonymized => state.forms.pseudonymizer().map(Some).ok_or_else(|| {
                forbidden(
                    "PSEUDONYM_KEY",
                    format!(
                        "{} reads with patients pseudonymized (read rule \"{}\"), and this reader has no --pseudonym-key",
                        self.principal, grant.rule
                    ),
                )
            }),
        }
    }
}

/// Decides event by event what a [`Viewer`] may see, remembering each contract's holder.
pub struct EventGate {
    pub viewer: Viewer,
    holders: HashMap<String, Option<Organisation>>,
}

impl EventGate {
    pub fn new(viewer: Viewer) -> EventGate {
        EventGate {
            viewer,
            holders: HashMap::new(),
        }
    }

    /// The grant under which `envelope` may be shown, or `None` when it may not. An event of a
    /// contract whose holder the views do not know yet waits until the views have applied the event
    /// (the holder's application comes before it on the same partition).
    pub async fn grant(
        &mut self,
        state: &ReadState,
        envelope: &EventEnvelope,
    ) -> anyhow::Result<Option<ReadGrant>> {
        if let Some(grant) = self.viewer.sees_everything() {
            return Ok(Some(grant.clone()));
        }
        let owner = match Belongs::of(&envelope.body.stream) {
            Belongs::Shared => None,
            Belongs::Organisation(owner) => Some(owner),
            Belongs::Contract(contract_id) => self.holder(state, contract_id, envelope).await?,
        };
        Ok(self.viewer.grant(owner).cloned())
    }

    async fn holder(
        &mut self,
        state: &ReadState,
        contract_id: String,
        envelope: &EventEnvelope,
    ) -> anyhow::Result<Option<Organisation>> {
        if let Some(known) = self.holders.get(&contract_id) {
            return Ok(*known);
        }
        let mut holder = owners::holder(&state.views, &contract_id)?;
        if holder.is_none() && !state.progress.current().has_applied(envelope.position) {
            let applied = state
                .progress
                .wait_applied(&[envelope.position], HOLDER_WAIT)
                .await;
            anyhow::ensure!(
                applied,
                "the views did not reach {} within {HOLDER_WAIT:?}",
                envelope.position
            );
            holder = owners::holder(&state.views, &contract_id)?;
        }
        self.holders.insert(contract_id, holder);
        Ok(holder)
    }
}

/// A 403 in the refusal shape.
pub fn forbidden(rule: &str, message: String) -> Response {
    let refusal = Refusal {
        rule: rule.to_owned(),
        field: None,
        message,
    };
    (StatusCode::FORBIDDEN, axum::Json(refusal)).into_response()
}

/// A 500 in the refusal shape for a failure of the views or the log.
pub fn internal(failure: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{failure:#}"), "read failed");
    crate::serve::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        None,
        format!("the reader could not answer: {failure:#}"),
    )
}
