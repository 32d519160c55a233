//! `ledger serve --listen ADDR`: the writer service; see `crate::serve` for the HTTP API and
//! docs/security.md for the trust boundary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ledger::domain::ident::Bin;
use ledger::log::file::FileLogOptions;

use super::GlobalOpts;
use crate::auth::limits::LimitSettings;
use crate::auth::tls::{TlsFiles, server_config};
use crate::auth::token::{JwksSource, TokenVerifier};
use crate::auth::{Organisation, Policy};
use crate::serve::listener::ConnectionSettings;
use crate::serve::{Authenticator, ServeState, router, shutdown_signal};
use crate::submit::dispatch::Dispatcher;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "LEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The Fund's BIN: the signer the law expects on conclusions, approvals and act signatures, and a
    /// Fund in the policy.
    #[arg(long, env = "LEDGER_FUND_BIN")]
    pub fund_bin: Bin,
    /// Snapshot a period stream's state every this many events (issue #16 §1): a restart folds at
    /// most this many events of a stream before its next decision.
    #[arg(long, env = "LEDGER_SNAPSHOT_EVERY", default_value_t = crate::handler::SNAPSHOT_EVERY)]
    pub snapshot_every: u64,
    #[command(flatten)]
    pub trust: ServiceTrustArgs,
}

/// The trust boundary of a service (issue #13, docs/security.md).
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceTrustArgs {
    /// The server's certificate chain (PEM); with --tls-key, the service speaks HTTPS.
    #[arg(long, env = "LEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, env = "LEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM bundle) that client certificates must chain to (mTLS).
    #[arg(long, env = "LEDGER_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation lists of the client CAs (PEM or DER); repeatable.
    #[arg(long, env = "LEDGER_CLIENT_CRL", requires = "client_ca")]
    pub client_crl: Vec<PathBuf>,
    /// The JWKS (a file or an http(s) URL) of the OpenID Connect provider whose tokens are accepted.
    #[arg(long, env = "LEDGER_JWKS", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwks: Option<String>,
    /// The `iss` tokens must carry.
    #[arg(long, env = "LEDGER_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` tokens must carry.
    #[arg(long, env = "LEDGER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Serve plain HTTP on a non-loopback address (a warning is logged); without TLS, only loopback
    /// addresses are served.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// The authorization policy (TOML, see deploy/policy.toml); the built-in default when absent.
    #[arg(long, env = "LEDGER_POLICY")]
    pub policy: Option<PathBuf>,
    /// How far a business instant may lie ahead of the writer's clock (TIME-01), in seconds.
    #[arg(long, default_value_t = 300)]
    pub max_skew_seconds: u64,
    /// Sustained requests per second per principal.
    #[arg(long, default_value_t = LimitSettings::default().rate_per_second)]
    pub rate_limit: u32,
    /// Requests per principal above the sustained rate.
    #[arg(long, default_value_t = LimitSettings::default().burst)]
    pub rate_burst: u32,
    /// Requests per principal in flight at once.
    #[arg(long, default_value_t = LimitSettings::default().concurrent)]
    pub concurrent_max: u32,
    /// Seconds a client may take to send a request's headers, and then its body.
    #[arg(long, default_value_t = 10)]
    pub read_timeout_seconds: u64,
}

impl ServiceTrustArgs {
    /// Checks the transport against the address: plain HTTP only on loopback or when asked for.
    pub(crate) fn check_transport(&self, listen: SocketAddr) -> anyhow::Result<()> {
        if self.tls_cert.is_none() {
            anyhow::ensure!(
                listen.ip().is_loopback() || self.insecure_plaintext,
                super::UsageError(format!(
                    "{listen} is not a loopback address: give --tls-cert and --tls-key, or --insecure-plaintext to serve plain HTTP anyway"
                ))
            );
            if !listen.ip().is_loopback() {
                tracing::warn!(%listen, "serving plain HTTP on a non-loopback address (--insecure-plaintext): certificates cannot be used and tokens travel in clear");
            }
        }
        anyhow::ensure!(
            self.client_ca.is_some() || self.jwks.is_some(),
            super::UsageError(
                "no way to authenticate: give --client-ca (client certificates) or --jwks (bearer tokens)".into()
            )
        );
        Ok(())
    }

    pub(crate) fn tls(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: self.client_ca.clone(),
            client_crl: self.client_crl.clone(),
        };
        server_config(&files).map(Some)
    }

    pub(crate) async fn authenticator(&self) -> anyhow::Result<Authenticator> {
        let tokens = match (&self.jwks, &self.jwt_issuer, &self.jwt_audience) {
            (Some(jwks), Some(issuer), Some(audience)) => {
                let source: JwksSource = jwks.parse().map_err(super::UsageError)?;
                Some(TokenVerifier::new(source, issuer.clone(), audience.clone()).await?)
            }
            _ => None,
        };
        let limits = LimitSettings {
            rate_per_second: self.rate_limit,
            burst: self.rate_burst,
            concurrent: self.concurrent_max,
        };
        Ok(Authenticator::new(tokens, self.client_ca.is_some(), limits))
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_seconds)
    }
}

pub fn run(args: ServeArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    args.trust.check_transport(args.listen)?;
    let tls = args.trust.tls()?;
    let policy = Policy::load(
        args.trust.policy.as_deref(),
        Organisation::Kz(args.fund_bin),
    )?;
    let local = tokio::task::LocalSet::new();
    super::runtime()?.block_on(local.run_until(async {
        let authenticator = args.trust.authenticator().await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        // The first line of standard output, so that scripts and tests started on port 0 find it.
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("listening on {address} ({scheme})");
        tracing::info!(%address, scheme, "listening");
        let state = Arc::new(ServeState::new(authenticator, args.trust.read_timeout()));
        let app = router(Arc::clone(&state));
        let settings = ConnectionSettings {
            header_timeout: args.trust.read_timeout(),
            ..ConnectionSettings::default()
        };
        let server = tokio::spawn(crate::serve::listener::serve(
            listener,
            tls,
            app,
            settings,
            shutdown_signal(),
        ));
        let opened = super::open::writer(global, FileLogOptions::default()).await?;
        let file_log = match &opened {
            super::open::Opened::File(log) => Some(Arc::clone(log)),
            super::open::Opened::Other(_) => None,
        };
        state.observe(policy.clone(), file_log);
        let state_dir = super::open::writer_state_dir(global);
        let dispatcher =
            Dispatcher::open_with_state(opened.log(), args.fund_bin, policy, Some(&state_dir))
                .await?
                .with_skew(Duration::from_secs(args.trust.max_skew_seconds))
                .with_snapshot_every(args.snapshot_every);
        let dispatcher = std::rc::Rc::new(dispatcher);
        state.ready(std::rc::Rc::clone(&dispatcher));
        tracing::info!("ready");
        server.await.context("the HTTP server task failed")??;
        // A graceful stop: the moved period states are snapshotted, so the next start folds none.
        dispatcher.write_snapshots();
        drop(opened);
        tracing::info!("stopped");
        anyhow::Ok(())
    }))?;
    Ok(ExitCode::SUCCESS)
}
