//! Reading a request body with a size limit, so an oversized body gets a 413 in the client's
//! error shape (actix's own limit answers in its own shape); and the body's idle timeout,
//! which every body read anywhere goes through (`idle_timeout`, a middleware).

use std::{
    cell::Cell,
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    body::{BodySize, BoxBody, EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::header,
    middleware::Next,
    web, HttpMessage, HttpRequest,
};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::{dispatch::Gateway, error::GatewayError};

/// Gives every request body an idle timeout (`timeouts.body`): a body that stops arriving
/// (an unfinished chunked body, one shorter than its Content-Length) ends in an error for
/// whoever reads it, rather than holding the connection forever. actix's own timeout covers
/// the request head only.
pub async fn idle_timeout(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let after = req
        .app_data::<web::Data<Gateway>>()
        .map(|gateway| gateway.tuning.load().timeouts.body);
    let stalled = match (after, req.take_payload()) {
        (_, Payload::None) => None,
        (None, payload) => {
            req.set_payload(payload);
            None
        }
        (Some(after), payload) => {
            let stalled = Rc::new(Cell::new(None));
            let idle = Idle {
                inner: payload,
                after,
                timer: Box::pin(tokio::time::sleep(after)),
                stalled: stalled.clone(),
            };
            req.set_payload(Payload::Stream {
                payload: Box::pin(idle),
            });
            Some(stalled)
        }
    };
    let res = next.call(req).await?;
    Ok(match stalled.and_then(|s| s.take()) {
        // actix keeps a connection open to drain a chunked body whose reader dropped it; one
        // still held when the answer ends makes it close the connection instead. The answer's
        // body holds it until then.
        Some(rest) => res.map_body(|_, body| {
            EitherBody::right(Holding {
                body: body.boxed(),
                _rest: rest,
            })
        }),
        None => res.map_body(|_, body| EitherBody::left(body)),
    })
}

/// An answer's body, and the unread rest of a request body that went silent.
struct Holding {
    body: BoxBody,
    _rest: Payload,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// The error a body that went silent ends with.
fn timed_out() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "request body timed out",
    ))
}

/// Whether a body read failed for `idle_timeout`.
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// A body stream that fails after `after` without a chunk, and then hands its source to
/// `stalled`.
struct Idle {
    inner: Payload,
    after: Duration,
    timer: Pin<Box<Sleep>>,
    stalled: Rc<Cell<Option<Payload>>>,
}

impl Stream for Idle {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Payload::None = self.inner {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let after = self.after;
                self.timer.as_mut().reset(Instant::now() + after);
                Poll::Ready(item)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let source = std::mem::replace(&mut self.inner, Payload::None);
                    self.stalled.set(Some(source));
                    Poll::Ready(Some(Err(timed_out())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    // Most bodies arrive in one chunk: keep it as is instead of copying.
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match is_timeout(&e) {
            true => GatewayError::BodyTimeout {
                after: timeout_of(req),
            },
            false => GatewayError::BadRequest(format!("cannot read request body: {e}")),
        })?;
        total += chunk.len();
        if total > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        match (&mut first, &mut rest) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let mut buf = BytesMut::with_capacity(declared.unwrap_or(total * 2));
                buf.extend_from_slice(head);
                buf.extend_from_slice(&chunk);
                rest = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, rest) {
        (_, Some(buf)) => buf.freeze(),
        (Some(one), None) => one,
        (None, None) => Bytes::new(),
    })
}

fn timeout_of(req: &HttpRequest) -> Duration {
    req.app_data::<web::Data<Gateway>>()
        .map(|gateway| gateway.tuning.load().timeouts.body)
        .unwrap_or_default()
}
