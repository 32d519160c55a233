//! The trust-boundary options every writing command takes (issue #13, docs/security.md): the policy,
//! and for local administration who acts (`--as`).

use std::path::PathBuf;
use std::time::Duration;

use ledger::domain::ident::Bin;

use crate::auth::{Organisation, Policy, Principal};

/// The options of local administration (`ledger submit`, `ledger import`).
#[derive(Debug, Clone, clap::Args)]
pub struct LocalTrustArgs {
    /// The authorization policy (TOML, see deploy/policy.toml); the built-in default when absent.
    #[arg(long, env = "LEDGER_POLICY")]
    pub policy: Option<PathBuf>,
    /// Who acts: `BIN[:IIN]` (or a 14-digit KG taxpayer number), stamped on every event; the policy
    /// decides what it may do. Default: the policy's local operator (the Fund's BIN, as Operator).
    #[arg(long = "as", value_name = "BIN[:IIN]")]
    pub acting_as: Option<String>,
    /// How far a business instant may lie ahead of this machine's clock (TIME-01), in seconds.
    #[arg(long, default_value_t = 300)]
    pub max_skew_seconds: u64,
}

impl LocalTrustArgs {
    /// The policy and the principal local administration acts as.
    pub fn resolve(&self, fund_bin: Bin) -> anyhow::Result<(Policy, Principal)> {
        let policy = Policy::load(self.policy.as_deref(), Organisation::Kz(fund_bin))?;
        let principal = match &self.acting_as {
            Some(text) => Principal::parse_local(text).map_err(super::UsageError)?,
            None => Principal::local(policy.local_operator(), None),
        };
        tracing::info!(%principal, "acting locally");
        Ok((policy, principal))
    }

    pub fn skew(&self) -> Duration {
        Duration::from_secs(self.max_skew_seconds)
    }
}
