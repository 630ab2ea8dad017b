//! The answer stream from node to client: each upstream chunk is handed on as it arrives
//! (never collected), with an idle timeout; when the node speaks another API, each chunk goes
//! through a `StreamTranslator` and its complete frames are handed on at once. A break after
//! the first byte ends the stream with an error frame in the client's format; the lease
//! records the outcome when the stream ends.

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
    translate::stream::{StreamState, StreamTranslator},
};

pub struct Relay {
    first: Option<Bytes>,
    /// `None` for an answer already whole in `first` (a translated one).
    upstream: Option<ClientResponse>,
    /// Turns the node's stream into the client's API; `None` when both speak the same.
    translator: Option<Box<StreamTranslator>>,
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
    /// The node's body has ended (it is not polled again).
    ended: bool,
    /// A last line without its newline was handed to the translator at the end.
    flushed: bool,
    /// Ready when the replica's shutdown grace is about to run out (`Router::shutdown`).
    shutdown: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

pub struct RelayParts {
    pub first: Option<Bytes>,
    pub upstream: Option<ClientResponse>,
    pub translator: Option<Box<StreamTranslator>>,
    /// The status the client gets.
    pub status: u16,
    /// Length of the client's body, when known in advance.
    pub length: Option<u64>,
    pub lease: Lease,
    pub framing: Framing,
    pub idle: Duration,
    pub latency: Duration,
    pub ttfb: Duration,
    pub meter: RequestMeter,
    pub retries: u32,
    /// The replica's shutdown flag; `None`: streams are never cut for shutdown.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

impl RelayParts {
    /// The parts of a relay for a node's answer: as it came, or as `translation` makes it
    /// the client's (a whole body already translated, or a stream to translate).
    pub fn of(
        answer: super::upstream::Answer,
        translation: Option<super::translated::Translation>,
        lease: Lease,
        framing: Framing,
        idle: Duration,
        meter: RequestMeter,
        retries: u32,
    ) -> Self {
        use super::translated::Translation;
        let (status, length, upstream, translator, first) = match translation {
            None => (
                answer.response.status().as_u16(),
                content_length(&answer.response),
                Some(answer.response),
                None,
                answer.first_chunk,
            ),
            Some(Translation::Whole { status, body }) => {
                (status, Some(body.len() as u64), None, None, Some(body))
            }
            Some(Translation::Stream(translator)) => (
                answer.response.status().as_u16(),
                None,
                Some(answer.response),
                Some(translator),
                answer.first_chunk,
            ),
        };
        RelayParts {
            first,
            upstream,
            translator,
            status,
            length,
            lease,
            framing,
            idle,
            latency: answer.latency,
            ttfb: answer.ttfb,
            meter,
            retries,
            shutdown: None,
        }
    }
}

impl Relay {
    pub fn new(parts: RelayParts) -> Self {
        let now = Instant::now();
        let status = parts.status;
        let completion = Completion::new(parts.framing, parts.length);
        let whole = parts.upstream.is_none();
        Self {
            first: parts.first,
            node: parts.lease.node().name.clone(),
            upstream: parts.upstream,
            translator: parts.translator,
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
            ended: false,
            flushed: false,
            // Only a stream can end with an error frame; a whole answer goes out as it is.
            shutdown: parts
                .shutdown
                .filter(|_| parts.framing != Framing::Json && !whole)
                .map(shutdown_future),
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
        self.meter.tokens = self.tokens();
        self.meter
            .finish(&self.node, end, Some(self.ttfb), self.retries);
    }

    /// The token counts the answer reported: read by the translator when there is one.
    fn tokens(&self) -> super::completion::Tokens {
        match &self.translator {
            Some(translator) => {
                let usage = translator.usage();
                super::completion::Tokens {
                    prompt: usage.input,
                    completion: usage.output,
                }
            }
            None => self.completion.tokens(),
        }
    }

    /// Hands a node's chunk on: observed, translated when the APIs differ, kept for the
    /// capture. `None` when translation produced nothing to send yet.
    fn pass(&mut self, chunk: Bytes) -> Option<Result<Bytes, (String, Option<Bytes>)>> {
        self.last_chunk = Instant::now();
        if let Some(lease) = &self.lease {
            // The node's liveness, for its health: see `NodeStats::last_progress`.
            lease.node().stats.note_progress(self.last_chunk.into_std());
        }
        let out = match &mut self.translator {
            None => {
                self.completion.observe(&chunk);
                chunk
            }
            Some(translator) => {
                let mut out = Vec::new();
                let pushed = translator.push(&chunk, &mut out);
                let state = translator.state();
                let out = Bytes::from(out);
                // Kept before the answer is finished below: finishing hands the capture over.
                if let (false, Some(capture)) = (out.is_empty(), &mut self.meter.capture) {
                    capture.push(&out);
                }
                if let Err(e) = pushed {
                    // The translator already ended `out` with the client's error frame.
                    let error = format!("its answer could not be translated: {e}");
                    return Some(Err((error, (!out.is_empty()).then_some(out))));
                }
                match state {
                    StreamState::Open => {}
                    StreamState::Done => {
                        self.complete(Ending::Done);
                        // The client has its whole answer. What the node still sends (the end
                        // of its chunked body) is read apart, briefly, so awc returns the
                        // connection to its pool: one dropped mid-body is closed, and every
                        // translated stream would pay a new connection.
                        if let Some(upstream) = self.upstream.take() {
                            actix_rt::spawn(drain(upstream));
                        }
                    }
                    StreamState::Failed => self.complete(Ending::InBandError),
                }
                return (!out.is_empty()).then_some(Ok(out));
            }
        };
        if let Some(capture) = &mut self.meter.capture {
            capture.push(&out);
        }
        Some(Ok(out))
    }

    /// The node broke off after the client got bytes: tell the client in its format. A node
    /// that closed its answer is alive (the cause may be the request, a prompt too long for
    /// its context): a soft failure. Only silence (`hard`) says the node itself may be gone.
    fn broken(&mut self, error: String, hard: bool) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.broken_with(error, None, hard)
    }

    /// The node's stream could not be translated (a malformed frame, tool arguments that are
    /// not JSON): its answer, not the node's health, is at fault, so the lease ends neutral.
    /// `written` is the client's error frame the translator already wrote (and the capture
    /// kept).
    fn untranslatable(
        &mut self,
        error: String,
        written: Option<Bytes>,
    ) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.lease.take();
        self.broken_with(error, written, false)
    }

    fn broken_with(
        &mut self,
        error: String,
        written: Option<Bytes>,
        hard: bool,
    ) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.finished = true;
        let message = format!("node {} failed mid-answer: {error}", self.node);
        tracing::warn!(request_id = %self.meter.request_id, node = %self.node, %error, "stream broke off");
        metrics::counter!(m::STREAM_ERRORS, "node" => self.node.to_string()).increment(1);
        if let Some(mut lease) = self.lease.take() {
            lease.set_outcome(Outcome::Failure {
                error: message.clone(),
                hard,
            });
        }
        let frame = match written {
            Some(written) => Some(written),
            None => self.error_frame(&message),
        };
        self.meter.tokens = self.tokens();
        self.meter.finish(
            &self.node,
            End::StreamError(self.status),
            Some(self.ttfb),
            self.retries,
        );
        match frame {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Poll::Ready(Some(Err(std::io::Error::other(message)))),
        }
    }

    /// The client's error frame for `message`, kept for the capture before the answer is
    /// finished (which hands the capture over).
    fn error_frame(&mut self, message: &str) -> Option<Bytes> {
        let frame = match &mut self.translator {
            Some(translator) => {
                let mut out = Vec::new();
                translator.fail(message, &mut out);
                (!out.is_empty()).then(|| Bytes::from(out))
            }
            None => frames::stream_error(self.framing, message),
        };
        if let (Some(frame), Some(capture)) = (&frame, &mut self.meter.capture) {
            capture.push(frame);
        }
        frame
    }

    /// The replica's shutdown grace is running out: the answer ends with an error frame in
    /// the client's format and is recorded as cut by shutdown. The node did nothing wrong,
    /// so the lease ends neutral.
    fn shut_down(&mut self) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.finished = true;
        self.lease.take();
        let message = "the gateway is shutting down: this answer was cut before its end";
        tracing::warn!(request_id = %self.meter.request_id, node = %self.node, "stream cut by shutdown");
        let frame = self.error_frame(message);
        self.meter.tokens = self.tokens();
        self.meter.finish(
            &self.node,
            End::Shutdown(self.status),
            Some(self.ttfb),
            self.retries,
        );
        match frame {
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
            match this.pass(first) {
                Some(Ok(out)) => return Poll::Ready(Some(Ok(out))),
                Some(Err((error, frame))) => return this.untranslatable(error, frame),
                None => {}
            }
        }
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            if let Some(shutdown) = &mut this.shutdown {
                if shutdown.as_mut().poll(cx).is_ready() {
                    return this.shut_down();
                }
            }
            let Some(upstream) = this.upstream.as_mut() else {
                // A whole answer handed over in `first`: it is all there was.
                this.complete(Ending::Done);
                return Poll::Ready(None);
            };
            let polled = if this.ended {
                Poll::Ready(None)
            } else {
                Pin::new(upstream).poll_next(cx)
            };
            match polled {
                Poll::Ready(Some(Ok(chunk))) => match this.pass(chunk) {
                    Some(Ok(out)) => return Poll::Ready(Some(Ok(out))),
                    Some(Err((error, frame))) => return this.untranslatable(error, frame),
                    None => continue,
                },
                // An error answer (4xx) has no end marker to check; it is passed on as it came.
                Poll::Ready(None) if this.status >= 400 => {
                    this.complete(Ending::Done);
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let open = this
                        .translator
                        .as_ref()
                        .is_some_and(|t| t.state() == StreamState::Open);
                    if open && !this.flushed {
                        // The node's last line may lack its newline, which ends it as well.
                        this.flushed = true;
                        match this.pass(Bytes::from_static(b"\n")) {
                            Some(Ok(out)) => return Poll::Ready(Some(Ok(out))),
                            Some(Err((error, frame))) => return this.untranslatable(error, frame),
                            None => continue,
                        }
                    }
                    let ending = match &this.translator {
                        Some(translator) => match translator.state() {
                            StreamState::Done => Ending::Done,
                            StreamState::Failed => Ending::InBandError,
                            StreamState::Open => Ending::Cut,
                        },
                        None => this.completion.ending(),
                    };
                    return match ending {
                        Ending::Cut => {
                            let error = "the connection closed before the answer ended";
                            this.broken(error.into(), false)
                        }
                        ending => {
                            this.complete(ending);
                            Poll::Ready(None)
                        }
                    };
                }
                Poll::Ready(Some(Err(e))) => return this.broken(e.to_string(), false),
                Poll::Pending => {
                    // The timer is re-armed lazily, only when it fires, rather than on every
                    // chunk.
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
                            return this.broken(format!("no data for {idle:?}"), true);
                        }
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
            self.meter.tokens = self.tokens();
            self.meter.finish(
                &self.node,
                End::ClientClosed(self.status),
                Some(self.ttfb),
                self.retries,
            );
        }
    }
}

/// Resolves once the shutdown flag is set; never when its sender is gone without setting it.
fn shutdown_future(
    mut flag: tokio::sync::watch::Receiver<bool>,
) -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async move {
        if flag.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// Reads what is left of a node's body after the answer ended, for at most a second.
async fn drain(mut upstream: ClientResponse) {
    use futures_util::StreamExt;
    let rest = async { while let Some(Ok(_)) = upstream.next().await {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), rest).await;
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
