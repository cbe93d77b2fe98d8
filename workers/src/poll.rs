//! A polling interval that always leaves a timer armed.
//!
//! apalis 1.0's `IntervalStrategy` replaces its timer when it fires but does not poll the new
//! one, so no wake-up is registered. If the fetch that follows finds nothing, the worker parks
//! with nobody to wake it and its queue stalls (seen under load on the SQLite queue). This
//! strategy polls the next timer right away.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};

#[derive(Debug)]
pub struct SteadyInterval {
    every: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SteadyInterval {
    pub fn new(every: Duration) -> Self {
        Self { every, sleep: None }
    }
}

impl Clone for SteadyInterval {
    fn clone(&self) -> Self {
        Self::new(self.every)
    }
}

impl PollStrategy for SteadyInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        loop {
            let every = self.every;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    fired = true;
                    self.sleep = None;
                }
                Poll::Pending if fired => return Poll::Ready(Some(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_is_armed_after_every_tick() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = SteadyInterval::new(Duration::from_millis(10));
        let snapshot = PollSnapshot::default();
        assert_eq!(strategy.poll_drive(&mut cx, &snapshot), Poll::Pending);
        for tick in 1..=3 {
            tokio::time::sleep(Duration::from_millis(11)).await;
            assert_eq!(
                counter.0.load(Ordering::SeqCst),
                tick,
                "woken by the armed timer"
            );
            assert_eq!(
                strategy.poll_drive(&mut cx, &snapshot),
                Poll::Ready(Some(()))
            );
        }
    }
}
