//! The server's connections: at most `maxConnections` open at once (past
//! it a connection is answered 503 and closed), each given
//! `headerTimeoutMs` to send each request's head (an idle keep-alive
//! connection too), HTTP/1.1 only.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::log::Logger;

/// Connections refused at once with a 503 before they are dropped bare.
const REFUSALS: usize = 64;
/// How long a refused connection may take to send its request (read and
/// dropped, so that the 503 is not lost to a reset).
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
/// After a failed accept (out of file descriptors), wait this long.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` until `stop`, then lets each connection
/// finish its requests; `kill` drops those still open.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    log: Logger,
    stop: CancellationToken,
    kill: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let connections = TaskTracker::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        // Small NDJSON lines and envelopes must not wait for delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            log.warn(format_args!(
                "a connection was refused: {} are open (maxConnections)",
                limits.max_connections
            ));
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                let max = limits.max_connections;
                tokio::spawn(async move {
                    refuse(tcp, max).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let (stop, kill) = (stop.clone(), kill.clone());
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stop.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            tokio::select! {
                _ = connection => {}
                _ = kill.cancelled() => {}
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Answers 503 and closes, reading what the client sent meanwhile.
async fn refuse(mut tcp: TcpStream, max: usize) {
    let body = format!(
        "{{\"code\":503,\"message\":\"this server has {max} connections open, its maxConnections \
         (--max-connections): retry later\"}}"
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tcp.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSAL_GRACE, exchange).await;
}
