//! One upload sent to several nodes at once without holding it: each chunk of the client's
//! body is read once and shared (a refcounted `Bytes`) by every node's request body. The
//! slowest node paces the reading through small bounded channels; a node that stops taking
//! chunks for the idle time is cut off (its upload fails, named in the answer) so it cannot
//! stall the others.

use std::{io, time::Duration};

use actix_web::{
    body::SizedStream,
    http::{header, Method},
};
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use tokio::sync::mpsc;

use super::{replies::Reply, Fleet};

/// Chunks buffered per node: enough to ride out jitter, small enough that memory stays a
/// few chunks whatever the body's size.
const CHUNKS_PER_NODE: usize = 4;

enum Chunk {
    Data(Bytes),
    /// The client's body ended whole; a channel closed without it means the upload broke.
    End,
}

/// A node's request body fed from its channel.
fn body_of(rx: mpsc::Receiver<Chunk>) -> impl Stream<Item = Result<Bytes, io::Error>> + 'static {
    stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Chunk::Data(bytes)) => Some((Ok(bytes), Some(rx))),
            Some(Chunk::End) => None,
            None => Some((Err(io::Error::other("the upload was cut off")), None)),
        }
    })
}

/// Sends `body` to `path` on every node of `fleet`. `Err` when the client's body broke off
/// (the nodes' uploads are then aborted too).
pub async fn fan_out<S, E>(
    fleet: &Fleet,
    path: &str,
    length: Option<u64>,
    mut body: S,
) -> Result<Vec<Reply>, String>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut senders = Vec::with_capacity(fleet.nodes.len());
    let mut sends = Vec::with_capacity(fleet.nodes.len());
    for node in &fleet.nodes {
        let (tx, rx) = mpsc::channel(CHUNKS_PER_NODE);
        senders.push(Some(tx));
        let request = fleet
            .request(node, Method::POST, path)
            .insert_header((header::CONTENT_TYPE, "application/octet-stream"));
        let send = match length {
            Some(length) => request.send_body(SizedStream::new(length, Box::pin(body_of(rx)))),
            None => request.send_stream(Box::pin(body_of(rx))),
        };
        sends.push(async move {
            match send.await {
                Ok(mut response) => {
                    let status = response.status();
                    match response.body().limit(64 * 1024).await {
                        Ok(text) => Reply::Answered(status, text),
                        Err(e) => Reply::Unreachable(e.to_string()),
                    }
                }
                Err(e) => Reply::Unreachable(e.to_string()),
            }
        });
    }
    let idle = fleet.idle;
    let feed = async move {
        while let Some(chunk) = body.next().await {
            let bytes = chunk.map_err(|e| format!("the upload broke off: {e}"))?;
            if !deliver(&mut senders, Chunk::Data, &bytes, idle).await {
                // Every node failed: their answers say why; the rest of the body is not needed.
                return Ok(());
            }
        }
        deliver(&mut senders, |_| Chunk::End, &Bytes::new(), idle).await;
        Ok(())
    };
    let (fed, replies) =
        futures_util::future::join(feed, futures_util::future::join_all(sends)).await;
    fed.map(|()| replies)
}

/// Hands one chunk to every node still taking the upload; `false` when none is left.
async fn deliver(
    senders: &mut [Option<mpsc::Sender<Chunk>>],
    make: impl Fn(Bytes) -> Chunk,
    bytes: &Bytes,
    idle: Duration,
) -> bool {
    let mut live = false;
    for slot in senders.iter_mut() {
        let Some(tx) = slot else { continue };
        match tokio::time::timeout(idle, tx.send(make(bytes.clone()))).await {
            Ok(Ok(())) => live = true,
            // The node's request ended or stalled: dropping its sender aborts its upload.
            _ => *slot = None,
        }
    }
    live
}
