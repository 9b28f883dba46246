//! Request bodies the handlers did not ask for: too slow, or left unread.
//!
//! A body that sends nothing for twice the idle timeout, or that after that long averages less than
//! [`MIN_RATE`] bytes a second (a slow-loris trickle), fails as the handler reads it, and its
//! connection is freed. A request answered before its body was read (a refusal: quota, 404,
//! 401) has the rest of its body read and discarded, up to a bound, before the answer goes out
//! — what nginx's lingering close does. The client then sees the answer instead of a broken
//! pipe, and the connection stays usable for its next request.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use stratus_service::Stratus;

/// Bytes read and discarded at most after an answer.
const LINGER_BYTES: usize = 16 << 20;
/// How long the discarding may take at most.
const LINGER_TIME: Duration = Duration::from_secs(3);

/// The slowest average a body may keep up once the idle timeout has passed (bytes a second;
/// Apache's `mod_reqtimeout` default).
const MIN_RATE: u64 = 500;

/// The request's body, shared between the handler and this layer, with its pace watched.
struct Shared {
    body: Arc<Mutex<Option<Body>>>,
    idle: Duration,
    started: tokio::time::Instant,
    received: u64,
    silence: Pin<Box<tokio::time::Sleep>>,
    /// Whether the handler asked for the body at all.
    polled: Arc<std::sync::atomic::AtomicBool>,
}

fn too_slow(what: &str) -> axum::Error {
    axum::Error::new(std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_string()))
}

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.polled.store(true, std::sync::atomic::Ordering::Relaxed);
        let polled = {
            let mut inner = self.body.lock().unwrap_or_else(|p| p.into_inner());
            match inner.as_mut() {
                Some(body) => Pin::new(body).poll_frame(cx),
                None => Poll::Ready(None),
            }
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.received += frame.data_ref().map_or(0, |d| d.len() as u64);
                let elapsed = self.started.elapsed();
                if elapsed > self.idle && self.received < MIN_RATE.saturating_mul(elapsed.as_secs()) {
                    return Poll::Ready(Some(Err(too_slow("the request body arrives too slowly"))));
                }
                let next = tokio::time::Instant::now() + self.idle;
                self.silence.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.silence.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(too_slow("the request body stopped arriving")))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.body.lock().unwrap_or_else(|p| p.into_inner());
        inner.as_ref().map(http_body::Body::size_hint).unwrap_or_else(|| http_body::SizeHint::with_exact(0))
    }
}

/// The middleware: runs the handler with the body watched, then discards what it left of it.
pub async fn linger(State(s): State<Stratus>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    // A client that waits for `100 Continue` before sending has sent nothing to discard; reading
    // would only invite the body the answer refuses.
    let expects_continue = parts.headers.get(axum::http::header::EXPECT).is_some();
    let polled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Some(body)));
    // Twice the service's own idle timeout: uploads answer their 408 first; this catches the
    // bodies nothing else times (XML, JSON, multipart preambles).
    let idle = s.body_idle_timeout() * 2;
    let watched = Shared {
        body: shared.clone(),
        idle,
        started: tokio::time::Instant::now(),
        received: 0,
        silence: Box::pin(tokio::time::sleep(idle)),
        polled: polled.clone(),
    };
    let response = next.run(Request::from_parts(parts, Body::new(watched))).await;
    let rest = shared.lock().unwrap_or_else(|p| p.into_inner()).take();
    let untouched = expects_continue && !polled.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(mut body) = rest.filter(|_| !untouched) {
        let deadline = tokio::time::Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        while discarded < LINGER_BYTES && !http_body::Body::is_end_stream(&body) {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => discarded += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    }
    response
}
