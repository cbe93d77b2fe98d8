//! One stream's mailbox: what the worker's fan-out hands a stream, waiting for the stream's
//! task to write it. It replaces a Tokio `mpsc` channel per stream (about 1 KiB each: a
//! cache-padded channel state and a first block of 32 slots) with a mutex, a queue that
//! stays unallocated until the first frame, and the reader's waker: under 100 bytes for an
//! idle stream. Both ends live on the same worker thread, so the mutex is never contended.
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use super::hub::Push;

struct Inner {
    queue: VecDeque<Push>,
    waker: Option<Waker>,
    /// One end was dropped: the sender (the stream is cut off once its queue is read) or the
    /// receiver (nothing more is queued).
    closed: bool,
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
pub fn mailbox(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Mutex::new(Inner {
        queue: VecDeque::new(),
        waker: None,
        closed: false,
    }));
    (
        Sender {
            shared: shared.clone(),
            capacity,
        },
        Receiver { shared },
    )
}

/// The fan-out's end; dropping it ends the stream after what is queued.
pub struct Sender {
    shared: Shared,
    capacity: usize,
}

impl Sender {
    pub fn try_send(&self, push: Push) -> Result<(), Refused> {
        let waker = {
            let mut inner = lock(&self.shared);
            if inner.closed {
                return Err(Refused::Closed);
            }
            if inner.queue.len() >= self.capacity {
                return Err(Refused::Full);
            }
            inner.queue.push_back(push);
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
    pub async fn recv(&mut self) -> Option<Push> {
        poll_fn(|cx| {
            let mut inner = lock(&self.shared);
            if let Some(push) = inner.queue.pop_front() {
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
        })
        .await
    }

    /// The next push if one is queued.
    pub fn try_recv(&mut self) -> Option<Push> {
        lock(&self.shared).queue.pop_front()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut inner = lock(&self.shared);
        inner.closed = true;
        inner.waker = None;
        inner.queue.clear();
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
