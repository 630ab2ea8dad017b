//! The answer stream from node to client: each upstream chunk is handed on as it arrives
//! (never collected), with an idle timeout. A break after the first byte ends the stream with
//! an error frame in the client's format; the lease records the outcome when the stream ends.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use awc::ClientResponse;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use super::{
    completion::{Completion, Ending},
    frames,
    meter::{End, RequestMeter},
};
use crate::{
    inbound::Framing,
    metrics as m,
    routing::{Lease, Outcome},
};

pub struct Relay {
    first: Option<Bytes>,
    upstream: ClientResponse,
    lease: Option<Lease>,
    node: Arc<str>,
    framing: Framing,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    last_chunk: Instant,
    latency: Duration,
    ttfb: Duration,
    meter: RequestMeter,
    status: u16,
    retries: u32,
    completion: Completion,
    finished: bool,
}

pub struct RelayParts {
    pub first: Option<Bytes>,
    pub upstream: ClientResponse,
    pub lease: Lease,
    pub framing: Framing,
    pub idle: Duration,
    pub latency: Duration,
    pub ttfb: Duration,
    pub meter: RequestMeter,
    pub retries: u32,
}

impl Relay {
    pub fn new(parts: RelayParts) -> Self {
        let now = Instant::now();
        let status = parts.upstream.status().as_u16();
        let completion = Completion::new(parts.framing, content_length(&parts.upstream));
        Self {
            first: parts.first,
            node: parts.lease.node().name.clone(),
            upstream: parts.upstream,
            lease: Some(parts.lease),
            framing: parts.framing,
            idle: parts.idle,
            idle_timer: Box::pin(tokio::time::sleep_until(now + parts.idle)),
            last_chunk: now,
            latency: parts.latency,
            ttfb: parts.ttfb,
            meter: parts.meter,
            status,
            retries: parts.retries,
            completion,
            finished: false,
        }
    }

    /// The answer ended as its format says it should: with its end marker, or with the
    /// node's own in-band error line (already passed on to the client).
    fn complete(&mut self, ending: Ending) {
        self.finished = true;
        let in_band_error = ending == Ending::InBandError;
        if let Some(mut lease) = self.lease.take() {
            if in_band_error {
                lease.set_outcome(Outcome::Failure {
                    error: format!("node {} ended an answer with an error", self.node),
                    hard: false,
                });
            } else if self.status < 400 {
                // A 4xx is the client's mistake, not the node's: neutral for health.
                lease.set_outcome(Outcome::Success {
                    latency: self.latency,
                    ttfb: Some(self.ttfb),
                });
            }
        }
        let end = if in_band_error {
            End::StreamError(self.status)
        } else {
            End::Status(self.status)
        };
        self.meter.tokens = self.completion.tokens();
        self.meter
            .finish(&self.node, end, Some(self.ttfb), self.retries);
    }

    /// The node broke off after the client got bytes: tell the client in its format.
    fn broken(&mut self, error: String) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.finished = true;
        let message = format!("node {} failed mid-answer: {error}", self.node);
        tracing::warn!(request_id = %self.meter.request_id, node = %self.node, %error, "stream broke off");
        metrics::counter!(m::STREAM_ERRORS, "node" => self.node.to_string()).increment(1);
        if let Some(mut lease) = self.lease.take() {
            lease.set_outcome(Outcome::Failure {
                error: message.clone(),
                hard: true,
            });
        }
        self.meter.tokens = self.completion.tokens();
        self.meter.finish(
            &self.node,
            End::StreamError(self.status),
            Some(self.ttfb),
            self.retries,
        );
        match frames::stream_error(self.framing, &message) {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Poll::Ready(Some(Err(std::io::Error::other(message)))),
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            this.last_chunk = Instant::now();
            this.completion.observe(&first);
            if let Some(capture) = &mut this.meter.capture {
                capture.push(&first);
            }
            return Poll::Ready(Some(Ok(first)));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.upstream).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.last_chunk = Instant::now();
                this.completion.observe(&chunk);
                if let Some(capture) = &mut this.meter.capture {
                    capture.push(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            // An error answer (4xx) has no end marker to check; it is passed on as it came.
            Poll::Ready(None) if this.status >= 400 => {
                this.complete(Ending::Done);
                Poll::Ready(None)
            }
            Poll::Ready(None) => match this.completion.ending() {
                Ending::Cut => this.broken("the connection closed before the answer ended".into()),
                ending => {
                    this.complete(ending);
                    Poll::Ready(None)
                }
            },
            Poll::Ready(Some(Err(e))) => this.broken(e.to_string()),
            Poll::Pending => {
                // The timer is re-armed lazily, only when it fires, rather than on every chunk.
                loop {
                    let deadline = this.last_chunk + this.idle;
                    if this.idle_timer.deadline() < deadline {
                        this.idle_timer.as_mut().reset(deadline);
                    }
                    if this.idle_timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if Instant::now() >= this.last_chunk + this.idle {
                        let idle = this.idle;
                        return this.broken(format!("no data for {idle:?}"));
                    }
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away; the lease drops as neutral. Tokens the node reported (or
            // will not) still count against the key.
            self.meter.tokens = self.completion.tokens();
            self.meter.finish(
                &self.node,
                End::ClientClosed(self.status),
                Some(self.ttfb),
                self.retries,
            );
        }
    }
}

pub(super) fn content_length(response: &ClientResponse) -> Option<u64> {
    response
        .headers()
        .get(awc::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
