//! One Server-Sent Events stream: the events missed since `Last-Event-ID` (read from the
//! table), then the live ones the hub hands over, with a comment line as heartbeat.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use entities::feed_events;
use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::{Value, json};

use super::hub::{Holder, Hub, Push, Subscription};
use super::store::{self, Scope};
use super::{FeedError, RESET};

/// Rows read per query while replaying missed events.
const REPLAY_BATCH: u64 = 200;
/// Sent first: how long an `EventSource` waits before it reconnects.
const PREAMBLE: &[u8] = b"retry: 2000\n\n";
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// `id`, `event` and `data` lines of one event.
pub fn event_frame(seq: i64, kind: &str, payload: &Value) -> Bytes {
    // serde_json writes no raw newline, so the payload is one `data:` line.
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {payload}\n\n"))
}

fn reset_frame(head: i64) -> Bytes {
    event_frame(
        head,
        RESET,
        &json!({
            "reason": "position_expired",
            "message": "Events after this position are no longer kept: re-read your lists, then follow from here",
            "resume_after": head,
        }),
    )
}

/// The rows of one replayed page, being read.
type PageRead = Pin<Box<dyn Future<Output = Result<Vec<feed_events::Model>, DbErr>>>>;

/// What a stream needs while it replays from the table, and not after.
struct Replay {
    db: DatabaseConnection,
    scope: Scope,
    /// The last position sent.
    after: i64,
    /// Replay ends here: later events come through the subscription.
    head: i64,
    /// The page being read, if any.
    reading: Option<PageRead>,
}

impl Replay {
    /// The next page of missed events; fewer than [`REPLAY_BATCH`] means the last.
    fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<feed_events::Model>, DbErr>> {
        let reading = self.reading.get_or_insert_with(|| {
            let (db, scope, after, head) = (self.db.clone(), self.scope, self.after, self.head);
            Box::pin(
                async move { store::rows_after(&db, scope, after, Some(head), REPLAY_BATCH).await },
            )
        });
        let rows = ready!(reading.as_mut().poll(cx));
        self.reading = None;
        Poll::Ready(rows)
    }
}

/// What only the first bytes of a stream need: the preamble, a reset, the replay.
struct Start {
    queued: VecDeque<Bytes>,
    replay: Option<Replay>,
}

/// A stream's state for as long as it is open (10,000 open streams hold 10,000 of these,
/// each boxed by the response as it is): what only the start needs is boxed apart and
/// dropped once it is done. A hand-written `Stream` rather than an `unfold` over an async
/// fn, whose boxed state held the `Conn` and its `next()` future (272 bytes against 88).
struct Conn {
    sub: Subscription,
    /// Live frames at or below this were already sent (or predate the client).
    floor: i64,
    start: Option<Box<Start>>,
}

impl Conn {
    /// The stream's start: `Some(Some(bytes))` to send, `Some(None)` to end the stream (a
    /// replay failed), `None` once the start is done (and dropped) and the stream is live.
    fn poll_start(&mut self, cx: &mut Context<'_>) -> Poll<Option<Option<Bytes>>> {
        let Some(start) = self.start.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            if let Some(bytes) = start.queued.pop_front() {
                return Poll::Ready(Some(Some(bytes)));
            }
            let Some(replay) = start.replay.as_mut() else {
                self.start = None;
                return Poll::Ready(None);
            };
            match ready!(replay.poll_page(cx)) {
                Ok(rows) => {
                    match rows.last() {
                        Some(last) if rows.len() as u64 == REPLAY_BATCH => replay.after = last.seq,
                        _ => start.replay = None,
                    }
                    start
                        .queued
                        .extend(rows.iter().map(|r| event_frame(r.seq, &r.kind, &r.payload)));
                }
                Err(e) => {
                    // The client resumes from the last event it got.
                    tracing::warn!(error = %e, "could not replay the event feed");
                    return Poll::Ready(Some(None));
                }
            }
        }
    }
}

impl Stream for Conn {
    type Item = Result<Bytes, Infallible>;

    /// `None` ends the stream.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let conn = self.get_mut();
        if let Some(next) = ready!(conn.poll_start(cx)) {
            return Poll::Ready(next.map(Ok));
        }
        loop {
            match ready!(conn.sub.frames.poll_recv(cx)) {
                // Frames come in position order; those at or below the floor were sent.
                // Frames already waiting are written together: actix-web keeps polling the
                // body into one write buffer while frames are ready.
                Some(Push::Event(frame)) if frame.seq > conn.floor => {
                    conn.floor = frame.seq;
                    return Poll::Ready(Some(Ok(frame.bytes.clone())));
                }
                Some(Push::Event(_)) => {}
                // The worker's shared heartbeat ([`super::hub::HEARTBEAT`]).
                Some(Push::KeepAlive) => {
                    return Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE))));
                }
                // Cut off: revoked key, fell behind, or shutting down.
                None => return Poll::Ready(None),
            }
        }
    }
}

/// Opens a stream for `scope`. With `last_event_id` it first replays every event after that
/// position, then continues live, each event once; a position older than the retention (or
/// one the feed never reached) gets a single `reset` event and continues from now.
pub async fn open(
    hub: &Arc<Hub>,
    db: &DatabaseConnection,
    scope: Scope,
    holder: Holder,
    last_event_id: Option<i64>,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + 'static, FeedError> {
    let (sub, head) = hub.subscribe(scope, holder)?;
    let mut queued = VecDeque::from([Bytes::from_static(PREAMBLE)]);
    // The feed's end now (from a read that started after this call, shared with the opens
    // waiting beside it): without a position the client gets what commits after this, even
    // if this node's reader has not caught up yet.
    let end = hub.end().await?;
    let last = end.last;
    let (replay_after, floor) = match last_event_id {
        None => (None, last.max(head)),
        Some(position) => {
            let expired = position < end.trimmed_through;
            if expired || position > last {
                // Expired, or a position the feed never reached.
                queued.push_back(reset_frame(last.max(head)));
                (None, last.max(head))
            } else if position < head {
                (Some(position), head)
            } else {
                // This node has not read that far yet; skip what the client already has.
                (None, position)
            }
        }
    };
    let replay = replay_after.map(|after| Replay {
        db: db.clone(),
        scope,
        after,
        head,
        reading: None,
    });
    Ok(Conn {
        sub,
        floor,
        start: Some(Box::new(Start { queued, replay })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_stream_is_small() {
        // Boxed by the response once per open stream (10,000 on a node); what only the
        // start needs is boxed apart.
        assert!(size_of::<Conn>() <= 88, "{}", size_of::<Conn>());
    }
}
