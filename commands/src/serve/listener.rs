//! The accept loop of the services (issue #13 §1, §6): plain TCP or TLS (rustls), HTTP/1.1 with a
//! header read timeout, the client certificate's principal attached to every request of its
//! connection, and a graceful stop that lets requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::auth::Principal;
use crate::auth::tls::{AuthFailure, principal_from_certificate};

/// What the connection says about the client: the principal its certificate names, if it presented
/// one (`Err` when the certificate chains to the CA but does not name a valid organisation).
#[derive(Debug, Clone, Default)]
pub struct ConnectionIdentity {
    pub certificate: Option<Result<Principal, AuthFailure>>,
    pub peer: Option<SocketAddr>,
}

impl ConnectionIdentity {
    /// A connection whose client certificate named `principal` (what the TLS listener attaches; tests
    /// that drive the router directly attach it themselves).
    pub fn certified(principal: Principal) -> ConnectionIdentity {
        ConnectionIdentity {
            certificate: Some(Ok(principal)),
            peer: None,
        }
    }
}

/// Timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// How long a client may take to send a request's headers (also bounds an idle keep-alive).
    pub header_timeout: Duration,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long requests in flight may take to finish after a stop was asked for.
    pub drain_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections to finish
/// (at most `drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(failure) => {
                    // Out of file descriptors or similar: wait, do not spin.
                    tracing::warn!(error = %failure, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection(stream, peer, acceptor, app, settings, watcher).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?settings.drain_timeout, "connections still open at shutdown");
    }
    Ok(())
}

/// One connection: the TLS handshake (if any), then HTTP/1.1 until the client or a stop closes it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    settings: ConnectionSettings,
    watcher: Watcher,
) {
    let _ = stream.set_nodelay(true);
    match acceptor {
        None => {
            let identity = ConnectionIdentity {
                certificate: None,
                peer: Some(peer),
            };
            http(TokioIo::new(stream), identity, app, settings, watcher).await;
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(settings.handshake_timeout, acceptor.accept(stream)).await;
            let tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(failure)) => {
                    // A refused certificate (expired, revoked, unknown CA) ends here, with the TLS
                    // alert the client sees.
                    tracing::info!(%peer, error = %failure, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| principal_from_certificate(leaf.as_ref()));
            let identity = ConnectionIdentity {
                certificate,
                peer: Some(peer),
            };
            http(TokioIo::new(tls), identity, app, settings, watcher).await;
        }
    }
}

async fn http<I>(
    io: TokioIo<I>,
    identity: ConnectionIdentity,
    app: Router,
    settings: ConnectionSettings,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut request: axum::http::Request<_>| {
        request.extensions_mut().insert(identity.clone());
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    if let Err(failure) = watcher.watch(connection).await {
        tracing::debug!(error = %failure, "connection ended with an error");
    }
}
