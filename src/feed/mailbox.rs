//! One stream's mailbox: what the worker's fan-out hands a stream, waiting for the stream's
//! task to write it. It replaces a Tokio `mpsc` channel per stream (about 1 KiB each: a
//! cache-padded channel state and a first block of 32 slots) with a mutex, the oldest push
//! held inline, a queue for the rest (boxed: allocated once two pushes wait together) and the
//! reader's waker: one 72-byte block for an idle stream, keep-alives included. Both ends
//! live on the same worker thread, so the mutex is never contended.
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::hub::Push;

struct Inner {
    /// The oldest waiting push; `rest` holds the later ones, in order.
    first: Option<Push>,
    /// Boxed on purpose: 8 bytes in every idle stream's mailbox instead of a `VecDeque`'s 32.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Push>>>,
    waker: Option<Waker>,
    /// At most this many pushes wait (kept here rather than in the sender, where it would
    /// not share the padding of `closed`).
    capacity: u32,
    /// One end was dropped: the sender (the stream is cut off once its queue is read) or the
    /// receiver (nothing more is queued).
    closed: bool,
}

impl Inner {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |rest| rest.len())
    }

    fn push(&mut self, push: Push) {
        match self.first {
            None => self.first = Some(push),
            Some(_) => self.rest.get_or_insert_default().push_back(push),
        }
    }

    fn pop(&mut self) -> Option<Push> {
        let push = self.first.take()?;
        self.first = self.rest.as_mut().and_then(|rest| rest.pop_front());
        Some(push)
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a push was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `capacity` pushes are waiting already.
    Full,
    /// The stream is gone.
    Closed,
}

/// A new mailbox holding at most `capacity` pushes.
pub fn mailbox(capacity: u32) -> (Sender, Receiver) {
    let shared = Arc::new(Mutex::new(Inner {
        first: None,
        rest: None,
        waker: None,
        capacity,
        closed: false,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The fan-out's end; dropping it ends the stream after what is queued.
pub struct Sender {
    shared: Shared,
}

impl Sender {
    pub fn try_send(&self, push: Push) -> Result<(), Refused> {
        let waker = {
            let mut inner = lock(&self.shared);
            if inner.closed {
                return Err(Refused::Closed);
            }
            if inner.len() >= inner.capacity as usize {
                return Err(Refused::Full);
            }
            inner.push(push);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut inner = lock(&self.shared);
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The stream's end; dropping it tells the fan-out the stream is gone.
pub struct Receiver {
    shared: Shared,
}

impl Receiver {
    /// The next push, or `None` once the sender is gone and the queue is read.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Push>> {
        let mut inner = lock(&self.shared);
        if let Some(push) = inner.pop() {
            return Poll::Ready(Some(push));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        match &mut inner.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// [`Self::poll_recv`] as a future.
    pub async fn recv(&mut self) -> Option<Push> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next push if one is queued.
    pub fn try_recv(&mut self) -> Option<Push> {
        lock(&self.shared).pop()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut inner = lock(&self.shared);
        inner.closed = true;
        inner.waker = None;
        inner.first = None;
        inner.rest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_keep_alive(push: Option<Push>) -> bool {
        matches!(push, Some(Push::KeepAlive))
    }

    #[tokio::test]
    async fn pushes_arrive_in_order_up_to_the_capacity() {
        let (tx, mut rx) = mailbox(2);
        assert_eq!(tx.try_send(Push::KeepAlive), Ok(()));
        assert_eq!(tx.try_send(Push::KeepAlive), Ok(()));
        assert_eq!(tx.try_send(Push::KeepAlive), Err(Refused::Full));
        assert!(is_keep_alive(rx.recv().await));
        assert_eq!(tx.try_send(Push::KeepAlive), Ok(()), "room again");
        assert!(is_keep_alive(rx.try_recv()));
        assert!(is_keep_alive(rx.try_recv()));
        assert!(rx.try_recv().is_none());
    }

    fn event(seq: i64) -> Push {
        Push::Event(Arc::new(super::super::hub::Frame {
            seq,
            tenant_id: uuid::Uuid::nil(),
            internal: false,
            bytes: bytes::Bytes::new(),
        }))
    }

    fn seq(push: Option<Push>) -> Option<i64> {
        match push? {
            Push::Event(frame) => Some(frame.seq),
            Push::KeepAlive => None,
        }
    }

    #[test]
    fn an_idle_mailbox_is_one_small_block() {
        // What 10,000 idle streams hold each (the `Arc`'s counts included).
        assert!(
            size_of::<Mutex<Inner>>() + 16 <= 72,
            "{}",
            size_of::<Mutex<Inner>>()
        );
    }

    #[test]
    fn the_inline_push_and_the_queue_behind_it_keep_their_order() {
        let (tx, mut rx) = mailbox(3);
        for n in 1..=3 {
            tx.try_send(event(n)).expect("room");
        }
        assert_eq!(
            tx.try_send(event(4)),
            Err(Refused::Full),
            "inline one counts"
        );
        assert_eq!(seq(rx.try_recv()), Some(1));
        tx.try_send(event(4)).expect("room again");
        let got: Vec<_> = std::iter::from_fn(|| seq(rx.try_recv())).collect();
        assert_eq!(got, [2, 3, 4]);
        tx.try_send(event(5)).expect("empty");
        assert_eq!(seq(rx.try_recv()), Some(5));
        assert!(rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_by_a_push() {
        let (tx, mut rx) = mailbox(4);
        let reader = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "nothing queued yet");
        tx.try_send(Push::KeepAlive).expect("queued");
        assert!(is_keep_alive(reader.await.expect("reader")));
    }

    #[tokio::test]
    async fn a_dropped_sender_ends_the_stream_after_what_was_queued() {
        let (tx, mut rx) = mailbox(4);
        tx.try_send(Push::KeepAlive).expect("queued");
        drop(tx);
        assert!(is_keep_alive(rx.recv().await));
        assert!(rx.recv().await.is_none());

        let (tx, mut rx) = mailbox(4);
        let reader = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        drop(tx);
        assert!(
            reader.await.expect("reader").is_none(),
            "a waiting reader ends"
        );
    }

    #[test]
    fn a_dropped_receiver_refuses_further_pushes() {
        let (tx, rx) = mailbox(4);
        tx.try_send(Push::KeepAlive).expect("queued");
        drop(rx);
        assert_eq!(tx.try_send(Push::KeepAlive), Err(Refused::Closed));
    }
}
