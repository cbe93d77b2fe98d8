//! A minimal HTTP/1.1 webhook receiver inside the bench process: answers every request
//! `200`, keeps the connection alive, and counts deliveries deduplicated by `webhook-id`.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};

#[derive(Default)]
struct State {
    ids: HashSet<String>,
    total: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    want: usize,
}

pub struct Stats {
    pub unique: usize,
    pub total: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

pub struct Receiver {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    done: Arc<Notify>,
}

impl Receiver {
    pub async fn start(want: usize) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            want,
            ..State::default()
        }));
        let done = Arc::new(Notify::new());
        let (s, d) = (state.clone(), done.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, d) = (s.clone(), d.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, s, d).await;
                });
            }
        });
        Ok(Self { addr, state, done })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub async fn unique(&self) -> usize {
        self.state.lock().await.ids.len()
    }

    /// Waits until `n` distinct webhook ids arrived; false on timeout.
    pub async fn wait_all(&self, n: usize, timeout: Duration) -> bool {
        self.state.lock().await.want = n;
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.lock().await.ids.len() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(200)), self.done.notified())
                    .await;
        }
    }

    pub async fn stats(&self) -> Stats {
        let s = self.state.lock().await;
        Stats {
            unique: s.ids.len(),
            total: s.total,
            first: s.first,
            last: s.last,
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, done: Arc<Notify>) -> Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // Headers.
        let head_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut length = 0usize;
        let mut id = None;
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().unwrap_or(0);
                } else if k == "webhook-id" {
                    id = Some(v.trim().to_string());
                }
            }
        }
        while buf.len() < head_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + length);
        {
            let now = Instant::now();
            let mut s = state.lock().await;
            s.total += 1;
            if let Some(id) = id
                && s.ids.insert(id)
            {
                s.first.get_or_insert(now);
                s.last = Some(now);
                if s.ids.len() >= s.want {
                    done.notify_one();
                }
            }
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
