//! Webhook target checks: only http(s), and (unless private targets are allowed) never an
//! address that is loopback, private, link-local, shared, multicast, metadata, or a
//! translation/tunnel prefix that can reach one of those.
//!
//! A name is resolved exactly once per connection, by [`GuardedResolver`], which the webhook
//! client uses: every address of the answer is checked and the client connects only to the
//! checked addresses. A separate "check, then let the client resolve again" would let a name
//! that answers public-then-loopback (DNS rebinding) reach loopback. Literal IP hosts never
//! reach a resolver, so [`check_literal`] covers them before each request.
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The longest webhook URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the URL is not valid")]
    Invalid,
    #[error("the URL is longer than 2048 characters")]
    TooLong,
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the host could not be resolved")]
    Unresolvable,
    #[error("the host resolves to a private, loopback, link-local or metadata address")]
    Private,
}

pub fn parse(raw: &str) -> Result<Url, TargetError> {
    if raw.trim().len() > MAX_URL_LEN {
        return Err(TargetError::TooLong);
    }
    let url = Url::parse(raw.trim()).map_err(|_| TargetError::Invalid)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme);
    }
    if url.host().is_none() {
        return Err(TargetError::NoHost);
    }
    Ok(url)
}

pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254, the cloud metadata address
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || a == 0
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some stacks)
        || s[..6] == [0; 6] // ::/96, IPv4-compatible (also :: and ::1)
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64 64:ff9b::/96 reaches any IPv4
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48
        || s[0] == 0x2002 // 6to4 2002::/16 embeds any IPv4
        || s[..2] == [0x2001, 0] // Teredo 2001::/32 embeds any IPv4
        || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
        || ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) // AWS metadata over IPv6
}

/// `localhost`, `x.localhost`, with or without the final dot of a fully qualified name.
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The checks that need no DNS: a literal address is allowed, a `localhost` name refused.
/// Names are checked when the client resolves them (see [`GuardedResolver`]).
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    match url.host().ok_or(TargetError::NoHost)? {
        Host::Ipv4(ip) if forbidden_v4(ip) => Err(TargetError::Private),
        Host::Ipv6(ip) if is_forbidden(IpAddr::V6(ip)) => Err(TargetError::Private),
        Host::Domain(name) if is_localhost_name(name) => Err(TargetError::Private),
        _ => Ok(()),
    }
}

/// Resolves the URL's host and refuses it if any address is forbidden. Used when an
/// endpoint is saved, to refuse an obviously private target early; deliveries rely on
/// [`GuardedResolver`], since the answer may change by the time of a delivery.
pub async fn check(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    check_literal(url, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let addresses = SystemLookup.lookup(name.to_string()).await?;
    allowed(name, addresses, false).map(|_| ())
}

/// Every address of an answer passes, or the name is refused.
fn allowed(
    name: &str,
    addresses: Vec<IpAddr>,
    allow_private: bool,
) -> Result<Vec<IpAddr>, TargetError> {
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable);
    }
    if !allow_private && (is_localhost_name(name) || addresses.iter().any(|ip| is_forbidden(*ip))) {
        return Err(TargetError::Private);
    }
    Ok(addresses)
}

type LookupFuture = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, TargetError>> + Send>>;

/// Where a name's addresses come from: the system resolver, or a script in tests.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, name: String) -> LookupFuture;
}

/// The system resolver (`getaddrinfo`).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, name: String) -> LookupFuture {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|_: io::Error| TargetError::Unresolvable)?;
            Ok(found.map(|addr| addr.ip()).collect())
        })
    }
}

/// The webhook client's resolver: one lookup per connection, every address checked, and
/// only checked addresses handed to the connector. A refused name fails the connection
/// with [`TargetError`] (find it with [`refusal`]) before any byte is sent.
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>, allow_private: bool) -> Self {
        Self {
            lookup,
            allow_private,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.clone();
        let allow_private = self.allow_private;
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addresses = lookup.lookup(name.clone()).await?;
            let addresses = allowed(&name, addresses, allow_private)?;
            // The connector puts the URL's port on each address.
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The [`TargetError`] a request failed with, if our resolver refused its host.
pub fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<TargetError>() {
            return Some(found.clone());
        }
        current = e.source();
    }
    None
}

/// The client every webhook delivery goes through: our resolver, no redirects.
pub fn webhook_client(
    lookup: Arc<dyn Lookup>,
    allow_private: bool,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Helpline/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver::new(lookup, allow_private)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn schemes_and_shapes() {
        assert_eq!(parse("ftp://example.com").err(), Some(TargetError::Scheme));
        assert_eq!(parse("not a url").err(), Some(TargetError::Invalid));
        assert_eq!(parse("file:///etc/passwd").err(), Some(TargetError::Scheme));
        assert!(parse("https://hooks.example.com/x").is_ok());
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(parse(&long).err(), Some(TargetError::TooLong));
        let longest = format!("https://h.example/{}", "a".repeat(MAX_URL_LEN - 18));
        assert_eq!(longest.len(), MAX_URL_LEN);
        assert!(parse(&longest).is_ok());
    }

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "198.19.255.254",
            "::1",
            "::",
            "::127.0.0.1",
            "::10.0.0.1",
            "fe80::1",
            "fec0::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "198.20.0.1",
            "198.17.255.255",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2001:4860:4860::8888",
            "8.8.8.8",
        ] {
            assert!(!is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn private_targets_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://localhost./x",
            "http://LocalHost./x",
            "http://api.localhost./x",
            "http://[::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://169.254.169.254/latest",
        ] {
            let url = parse(raw).expect("url");
            assert_eq!(check(&url, false).await, Err(TargetError::Private), "{raw}");
            assert_eq!(
                check_literal(&url, false),
                Err(TargetError::Private),
                "{raw}"
            );
            assert_eq!(check(&url, true).await, Ok(()));
        }
    }

    /// Answers from a script, one answer per lookup (the last one repeats), and counts.
    struct Scripted {
        answers: Mutex<Vec<Vec<IpAddr>>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(answers: &[&[&str]]) -> Arc<Self> {
            let answers = answers
                .iter()
                .rev()
                .map(|a| a.iter().map(|ip| ip.parse().expect("ip")).collect())
                .collect();
            Arc::new(Self {
                answers: Mutex::new(answers),
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl Lookup for Scripted {
        fn lookup(&self, _name: String) -> LookupFuture {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock().expect("script");
            let answer = if answers.len() > 1 {
                answers.pop()
            } else {
                answers.last().cloned()
            };
            Box::pin(async move { Ok(answer.unwrap_or_default()) })
        }
    }

    async fn resolve(resolver: &GuardedResolver, name: &str) -> Result<Vec<IpAddr>, TargetError> {
        match resolver.resolve(Name::from_str(name).expect("name")).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => Err(refusal(&*e).expect("a TargetError")),
        }
    }

    #[tokio::test]
    async fn every_answer_is_checked_at_connect_time_so_a_rebinding_name_is_refused() {
        // Public first, loopback on the next lookup: the second answer is what a second
        // resolution at connect time would see, and the resolver refuses it.
        let script = Scripted::new(&[&["93.184.216.34"], &["127.0.0.1"]]);
        let resolver = GuardedResolver::new(script.clone(), false);
        assert_eq!(
            resolve(&resolver, "rebind.example").await,
            Ok(vec!["93.184.216.34".parse().expect("ip")])
        );
        assert_eq!(
            resolve(&resolver, "rebind.example").await,
            Err(TargetError::Private)
        );
        // One forbidden address among public ones refuses the whole answer.
        let mixed = Scripted::new(&[&["93.184.216.34", "64:ff9b::a9fe:a9fe"]]);
        let resolver = GuardedResolver::new(mixed, false);
        assert_eq!(
            resolve(&resolver, "mixed.example").await,
            Err(TargetError::Private)
        );
        let empty = Scripted::new(&[&[]]);
        let resolver = GuardedResolver::new(empty, false);
        assert_eq!(
            resolve(&resolver, "nothing.example").await,
            Err(TargetError::Unresolvable)
        );
        let resolver = GuardedResolver::new(Scripted::new(&[&["127.0.0.1"]]), false);
        assert_eq!(
            resolve(&resolver, "localhost.").await,
            Err(TargetError::Private)
        );
    }

    /// A one-shot HTTP server on loopback standing in for an internal service; counts the
    /// requests it answers (with a body that must never reach a tenant).
    async fn internal_service() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = "internal-secret-42";
                let answer = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn the_client_connects_only_to_the_address_it_checked() {
        let (port, hits) = internal_service().await;
        let url = format!("http://rebind.example:{port}/hook");

        // Refused: no connection is made, and the error carries no receiver body.
        let script = Scripted::new(&[&["127.0.0.1"]]);
        let client = webhook_client(script.clone(), false, std::time::Duration::from_secs(5))
            .expect("client");
        let err = client
            .post(&url)
            .body("{}")
            .send()
            .await
            .expect_err("refused");
        assert_eq!(refusal(&err), Some(TargetError::Private));
        assert!(!format!("{err:?}").contains("internal-secret"));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        assert_eq!(
            script.calls.load(Ordering::SeqCst),
            1,
            "one lookup per request"
        );

        // Allowed (private targets on): the name, unknown to the system resolver, reaches the
        // address our lookup answered, so the connector used that answer and nothing else.
        let script = Scripted::new(&[&["127.0.0.1"]]);
        let client = webhook_client(script.clone(), true, std::time::Duration::from_secs(5))
            .expect("client");
        let res = client.post(&url).body("{}").send().await.expect("sent");
        assert_eq!(res.status().as_u16(), 500);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(script.calls.load(Ordering::SeqCst), 1);
    }
}
