//! The feed's end as stream opens need it, read once for every open waiting at the same time.
//!
//! A stream without a position starts after the feed's end as committed when it opened (so
//! a client sees the events of what it did just before, see [`super::stream::open`]). Ten
//! thousand streams opened together would each read it, and wait for the connection pool
//! for seconds: here the opens that arrive while a read runs wait for the next read, which
//! starts after every one of them began and so is valid for each; one read at a time, on
//! any node, whatever the number of opens.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::oneshot;

use super::store::{self, FeedEnd};

type Read = Pin<Box<dyn Future<Output = Result<FeedEnd, DbErr>> + Send>>;
type Waiter = oneshot::Sender<Result<FeedEnd, DbErr>>;

#[derive(Default)]
struct State {
    /// A task is reading (and will read again while anyone waits).
    reading: bool,
    /// Opens that began since the running read started.
    waiting: Vec<Waiter>,
}

pub struct EndReads {
    read: Box<dyn Fn() -> Read + Send + Sync>,
    state: Mutex<State>,
}

impl EndReads {
    pub fn of(db: DatabaseConnection) -> Arc<Self> {
        Self::with(move || {
            let db = db.clone();
            Box::pin(async move { store::end(&db).await })
        })
    }

    fn with(read: impl Fn() -> Read + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            read: Box::new(read),
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The feed's end, from a read that started after this call.
    pub async fn read(self: &Arc<Self>) -> Result<FeedEnd, DbErr> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut state = self.lock();
            state.waiting.push(tx);
            !std::mem::replace(&mut state.reading, true)
        };
        if lead {
            // A task of its own: the caller's request may be dropped, the others still wait.
            tokio::spawn(self.clone().reads());
        }
        rx.await.unwrap_or_else(|_| {
            Err(DbErr::Custom(
                "the feed's end was not read (shutting down)".into(),
            ))
        })
    }

    /// Reads for everyone waiting, then again for those who came meanwhile, until nobody
    /// waits.
    async fn reads(self: Arc<Self>) {
        loop {
            let waiting = {
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    state.reading = false;
                    return;
                }
                std::mem::take(&mut state.waiting)
            };
            let end = (self.read)().await;
            for waiter in waiting {
                let _ = waiter.send(end.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Reads that take 10 ms and answer the feed's end as it was when they started.
    fn counting(feed: Arc<AtomicI64>, reads: Arc<AtomicUsize>) -> Arc<EndReads> {
        EndReads::with(move || {
            let (feed, reads) = (feed.clone(), reads.clone());
            Box::pin(async move {
                reads.fetch_add(1, Ordering::SeqCst);
                let last = feed.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(FeedEnd {
                    last,
                    trimmed_through: 0,
                })
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn opens_waiting_together_share_one_read_that_started_after_them() {
        let (feed, reads) = (Arc::new(AtomicI64::new(1)), Arc::new(AtomicUsize::new(0)));
        let ends = counting(feed.clone(), reads.clone());
        let first = tokio::spawn({
            let ends = ends.clone();
            async move { ends.read().await }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Committed after the first read started: the opens below must see it.
        feed.store(2, Ordering::SeqCst);
        let later: Vec<_> = (0..100)
            .map(|_| {
                let ends = ends.clone();
                tokio::spawn(async move { ends.read().await })
            })
            .collect();
        assert_eq!(first.await.expect("first").expect("read").last, 1);
        for open in later {
            assert_eq!(open.await.expect("open").expect("read").last, 2);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one read for the 100");

        // Nobody waiting: the next open starts a fresh read.
        feed.store(3, Ordering::SeqCst);
        assert_eq!(ends.read().await.expect("read").last, 3);
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_read_fails_its_waiters_only() {
        let failed = Arc::new(AtomicUsize::new(0));
        let ends = EndReads::with({
            let failed = failed.clone();
            move || {
                let first = failed.fetch_add(1, Ordering::SeqCst) == 0;
                Box::pin(async move {
                    if first {
                        Err(DbErr::Custom("pool timed out".into()))
                    } else {
                        Ok(FeedEnd {
                            last: 5,
                            trimmed_through: 0,
                        })
                    }
                })
            }
        });
        assert!(ends.read().await.is_err());
        assert_eq!(ends.read().await.expect("read again").last, 5);
    }
}
