//! `ledger serve --listen ADDR`: the writer service; see `crate::serve` for the HTTP API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ledger::domain::ident::Bin;
use ledger::log::file::FileLogOptions;

use super::GlobalOpts;
use crate::serve::{ServeState, router, shutdown_signal};
use crate::submit::dispatch::Dispatcher;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "LEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The Fund's BIN: the signer the law expects on conclusions, approvals and act signatures.
    #[arg(long, env = "LEDGER_FUND_BIN")]
    pub fund_bin: Bin,
}

pub fn run(args: ServeArgs, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let local = tokio::task::LocalSet::new();
    super::runtime()?.block_on(local.run_until(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        // The first line of standard output, so that scripts and tests started on port 0 find it.
        println!("listening on {address}");
        tracing::info!(%address, "listening");
        let state = Arc::new(ServeState::default());
        let app = router(Arc::clone(&state));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        });
        let opened = super::open::writer(global, FileLogOptions::default()).await?;
        state.ready(Dispatcher::open(opened.log(), args.fund_bin).await?);
        tracing::info!("ready");
        server.await.context("the HTTP server task failed")??;
        drop(opened);
        tracing::info!("stopped");
        anyhow::Ok(())
    }))?;
    Ok(ExitCode::SUCCESS)
}
