//! The HTTP connections: a connection that has no request under way is closed after the idle timeout
//! (before its first byte too), and at most `max_connections` are open at once, so that sockets that
//! send nothing cannot use up the daemon's file descriptors and keep Meta's webhooks out. At the cap,
//! a new connection makes room by closing the longest-open connection with no request under way; only
//! when every open connection is in the middle of a request is the new one closed unserved.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::quiet::QuietLog;

/// The file descriptors kept for everything but client connections: the listener, the database
/// pool's connections, logs, the embedded cluster's socket.
const RESERVED_DESCRIPTORS: usize = 64;

/// The connection cap when none is configured: what the process's descriptor limit leaves after
/// [`RESERVED_DESCRIPTORS`], at least 16 and at most 100,000.
pub fn default_max_connections() -> usize {
    descriptor_limit().map_or(1024, |limit| limit.saturating_sub(RESERVED_DESCRIPTORS).clamp(16, 100_000))
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits` (Linux only).
fn descriptor_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One open connection: whether a request is under way on it, and how to close it.
struct Slot {
    requests: AtomicUsize,
    close: Notify,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
}

impl Open {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers connection `id` if there is room, making it by closing the oldest idle connection.
    fn admit(&self, id: u64, max: usize) -> Option<Arc<Slot>> {
        let mut slots = self.lock();
        if slots.len() >= max {
            let idle = slots.iter().find(|(_, slot)| slot.requests.load(Ordering::Acquire) == 0).map(|(id, _)| *id)?;
            if let Some(evicted) = slots.remove(&idle) {
                evicted.close.notify_one();
            }
        }
        let slot = Arc::new(Slot { requests: AtomicUsize::new(0), close: Notify::new() });
        slots.insert(id, slot.clone());
        Some(slot)
    }
}

/// Counts a request as under way on its connection until it is answered.
struct UnderWay(Arc<Slot>);

impl UnderWay {
    fn new(slot: &Arc<Slot>) -> UnderWay {
        slot.requests.fetch_add(1, Ordering::AcqRel);
        UnderWay(slot.clone())
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Limits of the HTTP side.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a connection may go without a complete request head: before its first byte, between
    /// keep-alive requests, or while its headers trickle in.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// After a shutdown signal, how long requests in flight get before their connections close.
    pub shutdown_grace: Duration,
}

/// Accepts connections until `shutdown`, then waits (at most the shutdown grace) for the requests in
/// flight. axum's own `serve` has no header timeout, and its graceful shutdown waits for ever on a
/// client that never finishes its request.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // Meta posts HTTP/1.1. hyper's header timer starts when the connection is first polled and again
    // after every answer, so it also closes connections that never send a byte (HTTP/2 detection, as
    // the auto builder does it, waited for the first bytes without any timer).
    http.timer(TokioTimer::new()).header_read_timeout(limits.idle_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(Open::default());
    let refused = QuietLog::new("connection refused: every connection has a request under way");
    let failed_accepts = QuietLog::new("accept failed");
    tokio::pin!(shutdown);
    for id in 0u64.. {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: not fatal.
                    failed_accepts.error(&e.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        metrics::counter!("wacrm_webhook_connections_total").increment(1);
        let Some(slot) = open.admit(id, limits.max_connections) else {
            metrics::counter!("wacrm_webhook_connections_refused_total").increment(1);
            refused.warn(&format!("{} connections open, the configured most", limits.max_connections));
            continue;
        };
        // An answer is small and awaited: Nagle's algorithm would hold a second segment of it until the
        // client's delayed ACK (up to 40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let (app, counted) = (app.clone(), slot.clone());
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let under_way = UnderWay::new(&counted);
            let answer = app.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(under_way);
                response
            }
        });
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                _ = slot.close.notified() => tracing::debug!("idle connection closed to make room"),
            }
            open.lock().remove(&id);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, connections.shutdown()).await.is_err() {
        tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs(),
            "requests still in flight at shutdown; closing them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let open = Open::default();
        let first = open.admit(1, 2).unwrap();
        let second = open.admit(2, 2).unwrap();
        let busy = UnderWay::new(&first);
        assert!(open.admit(3, 2).is_some(), "the idle second connection makes room");
        assert_eq!(open.lock().keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        drop(second);
        let third_busy = UnderWay::new(&open.lock()[&3].clone());
        assert!(open.admit(4, 2).is_none(), "both open connections have a request under way");
        drop((busy, third_busy));
        assert!(open.admit(5, 2).is_some());
        assert_eq!(open.lock().keys().copied().collect::<Vec<_>>(), vec![3, 5]);
    }
}
