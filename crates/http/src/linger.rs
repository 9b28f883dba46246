//! Lingering reads: a request answered before its body was read (a refusal: quota, 404, 401)
//! has the rest of its body read and discarded, up to a bound, before the answer goes out —
//! what nginx's lingering close does. The client then sees the answer instead of a broken
//! pipe, and the connection stays usable for its next request.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use bytes::Bytes;
use http_body_util::BodyExt;

/// Bytes read and discarded at most after an answer.
const LINGER_BYTES: usize = 16 << 20;
/// How long the discarding may take at most.
const LINGER_TIME: Duration = Duration::from_secs(3);

/// The request's body, shared between the handler and this layer.
struct Shared(Arc<Mutex<Option<Body>>>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.as_ref().map(http_body::Body::size_hint).unwrap_or_else(|| http_body::SizeHint::with_exact(0))
    }
}

/// The middleware: runs the handler, then discards what it left of the body.
pub async fn linger(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let shared = Arc::new(Mutex::new(Some(body)));
    let response = next.run(Request::from_parts(parts, Body::new(Shared(shared.clone())))).await;
    let rest = shared.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(mut body) = rest {
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
