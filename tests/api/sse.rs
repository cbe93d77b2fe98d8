//! A test client for `text/event-stream` responses, shared by the API and fault tests.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// How long a test waits for an event that should come.
pub const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub data: Value,
}

/// A test client of one `text/event-stream` response.
pub struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Self {
        let mut req = client.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.expect("open stream");
        assert_eq!(res.status(), StatusCode::OK, "opening {url}");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            res,
            buf: String::new(),
        }
    }

    /// The next event (comments and `retry:` skipped); `None` when the stream ended (or
    /// the connection broke).
    /// Panics when nothing comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk())
                .await
                .expect("no event in time");
            match chunk {
                Ok(Some(bytes)) => self
                    .buf
                    .push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                // The server ended the stream, or its process died.
                Ok(None) | Err(_) => return None,
            }
        }
    }

    pub async fn next(&mut self) -> Event {
        self.next_within(PATIENCE).await.expect("the stream ended")
    }

    /// Asserts no event arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            assert!(
                !self.buf.contains("\ndata:"),
                "unexpected event: {}",
                self.buf
            );
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return,
                Ok(chunk) => match chunk.expect("stream read") {
                    Some(bytes) => self
                        .buf
                        .push_str(std::str::from_utf8(&bytes).expect("utf-8")),
                    None => panic!("the stream ended"),
                },
            }
        }
    }
}

fn parse(block: &str) -> Option<Event> {
    let (mut id, mut kind, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).expect("JSON data"));
        }
    }
    Some(Event {
        id: id?,
        kind: kind?,
        data: data?,
    })
}
