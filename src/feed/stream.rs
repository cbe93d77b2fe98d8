//! One Server-Sent Events stream: the events missed since `Last-Event-ID` (read from the
//! table), then the live ones the hub hands over, with a comment line as heartbeat.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::DatabaseConnection;
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

/// What a stream needs while it replays from the table, and not after.
struct Replay {
    db: DatabaseConnection,
    scope: Scope,
    /// The last position sent.
    after: i64,
}

/// A stream's state for as long as it is open (10,000 open streams hold 10,000 of these):
/// what only the replay or the first bytes need is dropped once they are done.
struct Conn {
    sub: Subscription,
    replay: Option<Box<Replay>>,
    /// Live frames at or below this were already sent (or predate the client).
    floor: i64,
    queued: VecDeque<Bytes>,
}

impl Conn {
    /// Queues the next replayed page; replay is over when `self.replay` is `None`.
    async fn replay(&mut self) -> Result<(), sea_orm::DbErr> {
        let Some(replay) = self.replay.as_mut() else {
            return Ok(());
        };
        let rows = store::rows_after(
            &replay.db,
            replay.scope,
            replay.after,
            Some(self.sub.head),
            REPLAY_BATCH,
        )
        .await?;
        match rows.last() {
            Some(last) if rows.len() as u64 == REPLAY_BATCH => replay.after = last.seq,
            _ => self.replay = None,
        }
        self.queued
            .extend(rows.iter().map(|r| event_frame(r.seq, &r.kind, &r.payload)));
        Ok(())
    }

    /// The next bytes to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.queued.pop_front() {
                if self.queued.is_empty() {
                    // Live frames come one at a time from the mailbox: free the buffer.
                    self.queued = VecDeque::new();
                }
                return Some(bytes);
            }
            if self.replay.is_some() {
                // Boxed: an idle stream does not carry a query's state.
                if let Err(e) = Box::pin(self.replay()).await {
                    // The client resumes from the last event it got.
                    tracing::warn!(error = %e, "could not replay the event feed");
                    return None;
                }
                continue;
            }
            match self.sub.frames.recv().await {
                // Frames come in position order; those at or below the floor were sent.
                // Frames already waiting are written together: actix-web keeps polling the
                // body into one write buffer while frames are ready.
                Some(Push::Event(frame)) if frame.seq > self.floor => {
                    self.floor = frame.seq;
                    return Some(frame.bytes.clone());
                }
                Some(Push::Event(_)) => {}
                // The worker's shared heartbeat ([`super::hub::HEARTBEAT`]).
                Some(Push::KeepAlive) => return Some(Bytes::from_static(KEEP_ALIVE)),
                // Cut off: revoked key, fell behind, or shutting down.
                None => return None,
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
    let sub = hub.subscribe(scope, holder)?;
    let head = sub.head;
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
    let conn = Conn {
        sub,
        replay: replay_after.map(|after| {
            Box::new(Replay {
                db: db.clone(),
                scope,
                after,
            })
        }),
        floor,
        queued,
    };
    Ok(futures_util::stream::unfold(conn, |mut conn| async move {
        let bytes = conn.next().await?;
        Some((Ok(bytes), conn))
    }))
}
