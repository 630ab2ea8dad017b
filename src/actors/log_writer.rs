//! `LogWriter`: writes one record per inference request to the database, in batches, off the
//! request path. Handlers hand records over with a non-blocking `try_send` on a bounded
//! channel; the writer drains it, keeps what it could not write yet in a bounded buffer while
//! the database is unreachable, retries with backoff, and counts every record it must drop.
//! On shutdown (`LogHandle::close`) it stops taking new records, flushes what it holds within
//! a deadline, and reports when done.

use std::{collections::VecDeque, time::Duration};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use tokio::sync::{mpsc, oneshot};

use crate::{
    config::RequestLogConfig,
    metrics as m,
    store::{records::RequestRecord, Store},
};

/// Rows per INSERT: SQLite allows 32,766 bound values; 18 columns × 500 rows stays well under.
const MAX_BATCH: usize = 500;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The request path's end of the channel; cheap to clone.
#[derive(Clone)]
pub struct LogSender {
    tx: mpsc::Sender<RequestRecord>,
}

impl LogSender {
    /// Hands a record to the writer without waiting; a full channel drops it (counted).
    pub fn send(&self, record: RequestRecord) {
        if self.tx.try_send(record).is_err() {
            metrics::counter!(m::LOG_DROPPED, "reason" => "queue_full").increment(1);
        }
    }
}

pub struct LogWriter {
    store: Store,
    config: RequestLogConfig,
    rx: Option<mpsc::Receiver<RequestRecord>>,
    close: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

/// Shuts the writer down.
pub struct LogHandle {
    close: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

impl LogHandle {
    /// Stops taking records, waits until those already taken are written (or dropped at
    /// the flush deadline), at most `wait`.
    pub async fn close(self, wait: Duration) {
        let _ = self.close.send(());
        if tokio::time::timeout(wait, self.done).await.is_err() {
            tracing::warn!("the request log writer did not finish in time");
        }
    }
}

/// Starts the writer on the current arbiter.
pub fn start(store: Store, config: RequestLogConfig) -> (LogSender, LogHandle) {
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let (close_tx, close_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    LogWriter {
        store,
        config,
        rx: Some(rx),
        close: Some(close_rx),
        done: Some(done_tx),
    }
    .start();
    let handle = LogHandle {
        close: close_tx,
        done: done_rx,
    };
    (LogSender { tx }, handle)
}

impl Actor for LogWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (Some(rx), Some(close)) = (self.rx.take(), self.close.take()) else {
            return;
        };
        let run = write_loop(self.store.clone(), rx, close, self.config.clone());
        ctx.spawn(run.into_actor(self).map(|(), act, ctx| {
            if let Some(done) = act.done.take() {
                let _ = done.send(());
            }
            ctx.stop();
        }));
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<RequestRecord>,
    mut close: oneshot::Receiver<()>,
    config: RequestLogConfig,
) {
    let mut pending: VecDeque<RequestRecord> = VecDeque::new();
    let mut incoming = Vec::with_capacity(MAX_BATCH);
    let mut open = true;
    let mut backoff = Duration::from_millis(100);
    let mut closed_at: Option<tokio::time::Instant> = None;
    let mut closing = false;
    loop {
        // After `close`, the channel takes no new records; those queued still come out.
        if !closing && close.try_recv().is_ok() {
            closing = true;
            rx.close();
        }
        if open {
            if pending.is_empty() {
                // Idle: wait for work, or for the order to close.
                tokio::select! {
                    n = rx.recv_many(&mut incoming, MAX_BATCH) => open = n > 0,
                    _ = &mut close, if !closing => {
                        closing = true;
                        rx.close();
                    }
                }
            } else {
                // Busy: take what is ready, never wait.
                loop {
                    match rx.try_recv() {
                        Ok(record) => incoming.push(record),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                    if incoming.len() >= MAX_BATCH {
                        break;
                    }
                }
            }
            pending.extend(incoming.drain(..));
        }
        if !open && closed_at.is_none() {
            closed_at = Some(tokio::time::Instant::now());
        }
        let overflow = pending.len().saturating_sub(config.buffer);
        if overflow > 0 {
            pending.drain(..overflow);
            metrics::counter!(m::LOG_DROPPED, "reason" => "buffer_full").increment(overflow as u64);
        }
        if pending.is_empty() {
            if open {
                continue;
            }
            return;
        }
        let take = pending.len().min(MAX_BATCH);
        match store
            .insert_records(&pending.make_contiguous()[..take])
            .await
        {
            Ok(_) => {
                pending.drain(..take);
                metrics::counter!(m::LOG_WRITTEN).increment(take as u64);
                backoff = Duration::from_millis(100);
            }
            Err(error) => {
                metrics::counter!(m::LOG_WRITE_ERRORS, "kind" => error.kind()).increment(1);
                tracing::warn!(%error, buffered = pending.len(), retry_in = ?backoff,
                    "cannot write request records; keeping them for a retry");
                if closed_at.is_some_and(|at| at.elapsed() >= config.flush_timeout) {
                    metrics::counter!(m::LOG_DROPPED, "reason" => "shutdown")
                        .increment(pending.len() as u64);
                    tracing::error!(
                        dropped = pending.len(),
                        "giving up on request records at shutdown"
                    );
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
