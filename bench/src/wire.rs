//! The load loops' HTTP/1.1 client: one keep-alive connection per closed-loop worker, each
//! request written from one buffer and each answer read only as far as its status and the
//! end of its body. A general client (reqwest: a shared pool, a header map and a body stream
//! per request) costs the shared cores several times what pgbench's client costs per
//! statement, and every microsecond of it is taken from the server being measured
//! (docs/PERFORMANCE.md, "A load generator as lean as pgbench's").
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where a plain-HTTP server listens: its address and the `Host` header naming it.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: Arc<str>,
}

impl Target {
    pub async fn of(base: &str) -> Result<Self> {
        let url = reqwest::Url::parse(base)?;
        if url.scheme() != "http" {
            bail!(
                "the bench's load loops speak plain HTTP only, not {}",
                url.scheme()
            );
        }
        let host = url.host_str().context("no host in --base-url")?.to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .context("--base-url does not resolve")?;
        Ok(Self {
            addr,
            host: format!("{host}:{port}").into(),
        })
    }
}

/// One request of a load loop: method, path, bearer token and JSON body.
#[derive(Clone, Debug)]
pub struct Request {
    method: reqwest::Method,
    path: Arc<str>,
    bearer: Option<Arc<str>>,
    json: Option<Vec<u8>>,
}

impl Request {
    fn new(method: reqwest::Method, path: impl Into<Arc<str>>) -> Self {
        Self {
            method,
            path: path.into(),
            bearer: None,
            json: None,
        }
    }

    pub fn get(path: impl Into<Arc<str>>) -> Self {
        Self::new(reqwest::Method::GET, path)
    }

    pub fn post(path: impl Into<Arc<str>>) -> Self {
        Self::new(reqwest::Method::POST, path)
    }

    pub fn patch(path: impl Into<Arc<str>>) -> Self {
        Self::new(reqwest::Method::PATCH, path)
    }

    pub fn bearer(mut self, token: impl Into<Arc<str>>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.json = Some(body.to_string().into_bytes());
        self
    }

    /// The request as HTTP/1.1 bytes, appended to `out`.
    fn write_to(&self, host: &str, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            self.method, self.path
        );
        if let Some(token) = &self.bearer {
            let _ = write!(out, "Authorization: Bearer {token}\r\n");
        }
        match &self.json {
            Some(body) => {
                let _ = write!(
                    out,
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                out.extend_from_slice(body);
            }
            None => out.extend_from_slice(b"\r\n"),
        }
    }

    /// The same request through a general client (the open loop, which needs a pool).
    pub fn reqwest(&self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let mut builder = client.request(self.method.clone(), format!("{base}{}", self.path));
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &self.json {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        builder
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Transport,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Transport => "transport",
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// One keep-alive connection, reopened after an error or a `Connection: close`.
pub struct Conn {
    target: Target,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            stream: None,
            out: Vec::with_capacity(1024),
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends `req` and reads its whole answer; the answer's status.
    pub async fn send(&mut self, req: &Request) -> Result<u16, Failure> {
        match tokio::time::timeout(TIMEOUT, self.exchange(req)).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => {
                self.stream = None;
                Err(Failure::Transport)
            }
            Err(_) => {
                self.stream = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(&mut self, req: &Request) -> std::io::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.target.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        self.out.clear();
        req.write_to(&self.target.host, &mut self.out);
        stream.write_all(&self.out).await?;
        self.buf.clear();
        let answer = read_answer(stream, &mut self.buf).await?;
        if answer.close {
            self.stream = None;
        }
        Ok(answer.status)
    }
}

struct Answer {
    status: u16,
    close: bool,
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    if stream.read_buf(buf).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Reads one answer into `buf`: the head, then a `Content-Length` or chunked body.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Answer> {
    let head_end = loop {
        if let Some(at) = memchr::memmem::find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        fill(stream, buf).await?;
    };
    let head = Head::parse(&buf[..head_end])?;
    let bodyless = head.status / 100 == 1 || head.status == 204 || head.status == 304;
    if bodyless {
        return Ok(Answer {
            status: head.status,
            close: head.close,
        });
    }
    if head.chunked {
        read_chunks(stream, buf, head_end).await?;
    } else if let Some(length) = head.length {
        while buf.len() < head_end + length {
            fill(stream, buf).await?;
        }
    } else {
        // Neither: the body runs to the end of the connection.
        loop {
            match fill(stream, buf).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        return Ok(Answer {
            status: head.status,
            close: true,
        });
    }
    Ok(Answer {
        status: head.status,
        close: head.close,
    })
}

/// Skips a chunked body that starts at `at` (the chunks and the final empty one; trailers
/// are not expected from the server and refused).
async fn read_chunks(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut at: usize,
) -> std::io::Result<()> {
    loop {
        let line_end = loop {
            if let Some(i) = memchr::memmem::find(&buf[at..], b"\r\n") {
                break at + i;
            }
            fill(stream, buf).await?;
        };
        let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
        let end = line_end + 2 + size + 2;
        while buf.len() < end {
            fill(stream, buf).await?;
        }
        if &buf[end - 2..end] != b"\r\n" {
            return Err(bad("chunk end"));
        }
        if size == 0 {
            return Ok(());
        }
        at = end;
    }
}

/// What the load loop needs of an answer's head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
    close: bool,
}

impl Head {
    fn parse(head: &[u8]) -> std::io::Result<Self> {
        let text = std::str::from_utf8(head).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad("not an HTTP/1 answer"));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("no status"))?;
        let mut out = Head {
            status,
            length: None,
            chunked: false,
            close: version == "HTTP/1.0",
        };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                out.length = Some(value.parse().map_err(|_| bad("content-length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                out.chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                out.close = value.eq_ignore_ascii_case("close");
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_status_length_and_connection() {
        let head = Head::parse(
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 12\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            head,
            Head {
                status: 429,
                length: Some(12),
                chunked: false,
                close: true
            }
        );
        let chunked =
            Head::parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(chunked.chunked && !chunked.close && chunked.length.is_none());
        assert!(Head::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn a_request_is_written_as_http_1_1() {
        let mut out = Vec::new();
        Request::post("/v1/x")
            .bearer("hl_sk_1")
            .json(&serde_json::json!({"a": 1}))
            .write_to("127.0.0.1:8080", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer hl_sk_1\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
    }

    /// A tiny server answering three requests on one connection: sized, chunked, then sized
    /// with `Connection: close`; the client reads each whole and reconnects after the last.
    #[tokio::test]
    async fn answers_are_read_to_their_end_and_the_connection_reused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let answers: [&[u8]; 3] = [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            ];
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for answer in answers {
                let _ = sock.read(&mut buf).await.unwrap();
                // Written in two pieces, so the client has to read more than once.
                let (a, b) = answer.split_at(answer.len() / 2);
                sock.write_all(a).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                sock.write_all(b).await.unwrap();
            }
            let (mut again, _) = listener.accept().await.unwrap();
            let _ = again.read(&mut buf).await.unwrap();
            again
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
        });
        let target = Target {
            addr,
            host: addr.to_string().into(),
        };
        let mut conn = Conn::new(target);
        let req = Request::get("/");
        assert_eq!(conn.send(&req).await, Ok(200));
        assert_eq!(conn.send(&req).await, Ok(201));
        assert_eq!(conn.send(&req).await, Ok(404));
        assert!(conn.stream.is_none(), "closed after Connection: close");
        assert_eq!(conn.send(&req).await, Ok(204));
        server.await.unwrap();
    }
}
