//! A deadline on every request body, for every route (CONTRACT 3.1). Left
//! alone, actix keeps reading and dropping a chunked body that a handler did
//! not read (`/healthz`, any 401) for as long as the sender keeps trickling,
//! so one byte a second would hold a connection forever.
//!
//! Every body is read through a stream that fails after the deadline. When a
//! handler answers without reading all of it, a small rest that has already
//! arrived is read and dropped (the connection can then serve the next
//! request); otherwise the body is kept, unread, until the answer is sent, and
//! actix closes the connection after it.
use super::body::BODY_DEADLINE;
use actix_web::{
    Error, HttpMessage,
    body::{BodySize, BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    middleware::Next,
    web::Bytes,
};
use futures_util::Stream;
use std::{
    cell::RefCell,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

/// A refused request's rest of at most this many bytes ...
pub const DRAIN_MAX_BYTES: usize = 64 * 1024;
/// ... that arrives within this long is read and dropped (CONTRACT 3.1).
pub const DRAIN_WITHIN: Duration = Duration::from_millis(250);
/// Routes with a deadline of their own (the webhook's 408) meet it first.
const SLACK: Duration = Duration::from_millis(500);

struct Tracked {
    payload: Payload,
    finished: bool,
}

type Shared = Rc<RefCell<Tracked>>;

/// The body as the handler sees it: the real one, until the deadline.
struct Deadlined {
    shared: Shared,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut tracked = this.shared.borrow_mut();
        match Pin::new(&mut tracked.payload).poll_next(cx) {
            Poll::Ready(None) => {
                tracked.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body did not arrive in time",
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// An answer that keeps the unread body alive until it is sent: actix then
/// closes the connection instead of draining the body with no end.
struct Holding {
    body: BoxBody,
    _unread: Shared,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

pub async fn bound_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let shared = Rc::new(RefCell::new(Tracked { payload, finished: false }));
    let deadlined = Deadlined { shared: shared.clone(), deadline: Box::pin(tokio::time::sleep(BODY_DEADLINE + SLACK)) };
    req.set_payload(Payload::Stream { payload: Box::pin(deadlined) });
    let response = next.call(req).await?;
    if shared.borrow().finished || drain_small_rest(&shared).await {
        return Ok(response.map_into_boxed_body());
    }
    Ok(response.map_body(|_, body| BoxBody::new(Holding { body: body.boxed(), _unread: shared })))
}

/// Reads what is left if it is small and already (nearly) here.
async fn drain_small_rest(shared: &Shared) -> bool {
    let drain = async {
        let mut seen = 0usize;
        loop {
            let next = std::future::poll_fn(|cx| Pin::new(&mut shared.borrow_mut().payload).poll_next(cx)).await;
            match next {
                None => return true,
                Some(Ok(chunk)) => {
                    seen += chunk.len();
                    if seen > DRAIN_MAX_BYTES {
                        return false;
                    }
                }
                Some(Err(_)) => return false,
            }
        }
    };
    tokio::time::timeout(DRAIN_WITHIN, drain).await.unwrap_or(false)
}
