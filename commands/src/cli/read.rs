//! `ledger read --listen ADDR`: the reader service (issue #14 §3); see `crate::read` for the HTTP API
//! and docs/subscribing.md for its clients. The same trust flags as `ledger serve` (TLS, client
//! certificates, tokens, the policy), its own views, and a key for analysts' pseudonyms.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ledger::domain::ident::Bin;
use projector::{FlushPolicy, Projector, SledStore};
use tokio::sync::watch;

use super::serve::ServiceTrustArgs;
use super::{GlobalOpts, UsageError, open};
use crate::auth::{Organisation, Policy};
use crate::pseudonym::Pseudonymizer;
use crate::read::follow::{checkpoint_of, follow, refresh_embedded};
use crate::read::progress::ViewProgress;
use crate::read::{Forms, ReadState, owners, router};
use crate::serve::listener::ConnectionSettings;

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "LEDGER_READ_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// The Fund's BIN: a Fund in the policy.
    #[arg(long, env = "LEDGER_FUND_BIN")]
    pub fund_bin: Bin,
    /// The reader's own views (default: `<data-dir>/read-views`); not the views of `ledger
    /// project`, which another process may hold open.
    #[arg(long, env = "LEDGER_READ_VIEWS", value_name = "DIR")]
    pub views: Option<PathBuf>,
    /// The key (a file of 32–4096 secret bytes) of the patient pseudonyms analysts read
    /// (HMAC-SHA256, the same as `ledger export --pseudonymize`); required when the policy lists
    /// analysts.
    #[arg(long, env = "LEDGER_PSEUDONYM_KEY", value_name = "FILE")]
    pub pseudonym_key: Option<PathBuf>,
    /// The longest a request waits for the views to apply its `min_position` (`wait` is capped).
    #[arg(long, default_value_t = crate::read::params::WAIT_SECONDS_MAX)]
    pub wait_max_seconds: u64,
    /// Seconds between heartbeats on an idle event feed.
    #[arg(long, default_value_t = 15)]
    pub heartbeat_seconds: u64,
    #[command(flatten)]
    pub trust: ServiceTrustArgs,
}

pub fn run(args: ReadArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    args.trust.check_transport(args.listen)?;
    let tls = args.trust.tls()?;
    let (policy, pseudonymizer) = policy(&args)?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let opened = open::reading(global).await?;
        let views_dir = args
            .views
            .clone()
            .unwrap_or_else(|| global.data_dir.join("read-views"));
        let projector = open_views(&views_dir)?;
        let log = opened.log();
        let progress = Arc::new(ViewProgress::new(checkpoint_of(&projector, log.partitions())));
        let (stop, stopping) = watch::channel(false);
        let state = Arc::new(ReadState {
            log: Arc::clone(&log),
            views: projector.reader(),
            progress: Arc::clone(&progress),
            policy,
            authenticator: args.trust.authenticator().await?,
            forms: Forms::new(super::public::form(global), pseudonymizer),
            heartbeat: Duration::from_secs(args.heartbeat_seconds.max(1)),
            wait_max: Duration::from_secs(args.wait_max_seconds),
            stopping: stopping.clone(),
            metrics: crate::read::metrics::ReadMetrics::default(),
        });
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The first line of standard output, so that scripts and tests started on port 0 find it.
        println!("listening on {address} ({scheme})");
        tracing::info!(%address, scheme, views = %views_dir.display(), "reader listening");
        let stop = Arc::new(stop);
        let signalled = Arc::clone(&stop);
        tokio::spawn(async move {
            crate::serve::shutdown_signal().await;
            let _ = signalled.send(true);
        });
        if let open::Opened::File(file_log) = &opened {
            tokio::spawn(refresh_embedded(Arc::clone(file_log), stopped(stopping.clone())));
        }
        let following = follow(projector, log, progress, stopped(stopping.clone()));
        let follower = tokio::spawn(async move {
            let followed = following.await;
            if let Err(error) = &followed {
                tracing::error!(error = %format!("{error:#}"), "the views stopped following the log; stopping");
                let _ = stop.send(true);
            }
            followed
        });
        let settings = ConnectionSettings {
            header_timeout: args.trust.read_timeout(),
            ..ConnectionSettings::default()
        };
        let server = crate::serve::listener::serve(listener, tls, router(state), settings, stopped(stopping));
        let served = server.await;
        let followed = follower.await.context("the follower task failed")?;
        tracing::info!("stopped");
        served.and(followed)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The policy, and the key of analysts' pseudonyms (required when the policy lists analysts).
fn policy(args: &ReadArgs) -> anyhow::Result<(Policy, Option<Pseudonymizer>)> {
    let policy = Policy::load(
        args.trust.policy.as_deref(),
        Organisation::Kz(args.fund_bin),
    )?;
    let pseudonymizer = args
        .pseudonym_key
        .as_deref()
        .map(Pseudonymizer::from_key_file)
        .transpose()
        .map_err(|error| UsageError(error.to_string()))?;
    if policy.pseudonymizes_someone() && pseudonymizer.is_none() {
        return Err(UsageError(
            "the policy lists analysts, who read with patients pseudonymized: give --pseudonym-key FILE".into(),
        )
        .into());
    }
    Ok((policy, pseudonymizer))
}

/// Completes once the service is asked to stop.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// Opens the reader's views: every domain view and the contract holders.
fn open_views(dir: &Path) -> anyhow::Result<Projector<SledStore>> {
    let store = SledStore::open(dir, FlushPolicy::Background { every_ms: 500 })
        .with_context(|| format!("cannot open the reader's views in {}", dir.display()))?;
    let mut views = projector::views::all();
    views.push(Box::new(owners::OwnerView));
    let (projector, opened) = Projector::open(store, views)
        .with_context(|| format!("cannot open the reader's views in {}", dir.display()))?;
    for status in opened.rebuilding() {
        tracing::info!(view = %status.name, version = status.version, "rebuilding a view from the log");
    }
    Ok(projector)
}
