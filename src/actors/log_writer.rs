//! `LogWriter`: writes one record per inference request to the database, in batches, off the
//! request path. Handlers hand records over with a non-blocking `try_send` on a bounded
//! channel; the writer drains it, keeps what it could not write yet in a bounded buffer while
//! the database is unreachable, retries with backoff, and counts every record it must drop.
//! On shutdown (`LogHandle::close`) it stops taking new records, flushes what it holds within
//! a deadline, and reports when done.
//!
//! With content capture on, a record brings its bodies along; the writer prepares them
//! (images out to files, streams reassembled) on a blocking thread as they arrive, and bounds
//! the body bytes it buffers: past `capture_buffer_bytes`, the oldest records lose their bodies
//! but are still written.

use std::{collections::VecDeque, time::Duration};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use tokio::sync::{mpsc, oneshot};

use crate::{
    capture::{prepare::prepare, Capture},
    config::RequestLogConfig,
    metrics as m,
    store::{
        contents::{ContentRow, MediaRow},
        records::RequestRecord,
        Store,
    },
};

/// What the request path hands over: the record, and its bodies when captured.
pub struct LogEntry {
    pub record: RequestRecord,
    pub capture: Option<Capture>,
}

/// An entry ready to write.
struct Prepared {
    record: RequestRecord,
    content: Option<(ContentRow, Vec<MediaRow>)>,
    /// Body bytes held, for the buffer's bound.
    size: usize,
}

/// Rows per INSERT: SQLite allows 32,766 bound values; 18 columns × 500 rows stays well under.
const MAX_BATCH: usize = 500;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The request path's end of the channel; cheap to clone.
#[derive(Clone)]
pub struct LogSender {
    tx: mpsc::Sender<LogEntry>,
}

impl LogSender {
    /// Hands a record to the writer without waiting; a full channel drops it (counted).
    pub fn send(&self, entry: LogEntry) {
        if self.tx.try_send(entry).is_err() {
            metrics::counter!(m::LOG_DROPPED, "reason" => "queue_full").increment(1);
        }
    }
}

pub struct LogWriter {
    store: Store,
    config: RequestLogConfig,
    rx: Option<mpsc::Receiver<LogEntry>>,
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
    mut rx: mpsc::Receiver<LogEntry>,
    mut close: oneshot::Receiver<()>,
    config: RequestLogConfig,
) {
    let mut pending: VecDeque<Prepared> = VecDeque::new();
    let mut body_bytes: usize = 0;
    let mut incoming: Vec<LogEntry> = Vec::with_capacity(MAX_BATCH);
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
            for entry in prepare_all(
                std::mem::replace(&mut incoming, Vec::with_capacity(MAX_BATCH)),
                &config,
            )
            .await
            {
                body_bytes += entry.size;
                pending.push_back(entry);
            }
        }
        // Bodies beyond their budget go first, oldest first; the records stay.
        let mut stripped = 0u64;
        for entry in pending.iter_mut() {
            if body_bytes <= config.capture_buffer_bytes {
                break;
            }
            if entry.content.take().is_some() {
                body_bytes -= entry.size;
                entry.size = 0;
                stripped += 1;
            }
        }
        if stripped > 0 {
            metrics::counter!(m::LOG_DROPPED, "reason" => "content_buffer_full")
                .increment(stripped);
        }
        if !open && closed_at.is_none() {
            closed_at = Some(tokio::time::Instant::now());
        }
        let overflow = pending.len().saturating_sub(config.buffer);
        if overflow > 0 {
            body_bytes -= pending.drain(..overflow).map(|e| e.size).sum::<usize>();
            metrics::counter!(m::LOG_DROPPED, "reason" => "buffer_full").increment(overflow as u64);
        }
        if pending.is_empty() {
            if open {
                continue;
            }
            return;
        }
        let take = pending.len().min(MAX_BATCH);
        let batch = pending.range(..take);
        let records: Vec<RequestRecord> = batch.clone().map(|e| e.record.clone()).collect();
        let contents: Vec<ContentRow> = batch
            .clone()
            .filter_map(|e| e.content.as_ref().map(|(c, _)| c.clone()))
            .collect();
        let media: Vec<MediaRow> = batch
            .filter_map(|e| e.content.as_ref())
            .flat_map(|(_, media)| media.iter().cloned())
            .collect();
        match store.insert_batch(&records, &contents, &media).await {
            Ok(_) => {
                body_bytes -= pending.drain(..take).map(|e| e.size).sum::<usize>();
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

/// Turns entries into rows; bodies are prepared on a blocking thread (parsing, hashing,
/// writing image files), records without bodies pass straight through.
async fn prepare_all(entries: Vec<LogEntry>, config: &RequestLogConfig) -> Vec<Prepared> {
    if entries.iter().all(|e| e.capture.is_none()) {
        return entries
            .into_iter()
            .map(|e| Prepared {
                record: e.record,
                content: None,
                size: 0,
            })
            .collect();
    }
    let dir = config.media_dir.clone();
    let max = config.capture_max_bytes;
    let work = move || {
        entries
            .into_iter()
            .map(|LogEntry { record, capture }| {
                // A bug in preparing one body must not cost the record itself.
                let content = capture.and_then(|c| {
                    let prepared = std::panic::catch_unwind(|| {
                        prepare(&c, &record.id, record.ts_ms, &dir, max)
                    });
                    if prepared.is_err() {
                        tracing::error!(record = %record.id, "preparing captured content failed");
                    }
                    prepared.ok()
                });
                let size = content.as_ref().map_or(0, |(c, _)| {
                    c.request_body.as_ref().map_or(0, String::len)
                        + c.response_body.as_ref().map_or(0, String::len)
                });
                Prepared {
                    record,
                    content,
                    size,
                }
            })
            .collect()
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!(%error, "preparing captured content failed; those records are lost");
            Vec::new()
        }
    }
}
