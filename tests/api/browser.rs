//! A real headless Chromium for browser tests: each test gets its own chromedriver on a free
//! port and a fresh profile, so tests run in parallel. Helpers wait for what a page should
//! show (with a deadline and a message naming what never came) and save screenshots to
//! `$HELPLINE_SCREENSHOT_DIR` (default `target/screenshots`), which is never committed.
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page gets to show what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "browser tests need {CHROMIUM} and {CHROMEDRIVER}: apt-get install -y chromium chromium-driver (.ci/run does)"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut guard = DriverGuard(Some(driver));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < DEADLINE,
                "chromedriver did not listen on port {port} within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1366,900", "--no-first-run", "--no-default-browser-check",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // Two crypto providers are compiled in (ring and aws-lc-rs): name one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            driver: guard.0.take().expect("driver"),
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Polls `probe` until it finds something; past the deadline, saves a screenshot and
    /// fails naming `what` and the page it was missing from.
    pub async fn until<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if started.elapsed() > DEADLINE {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                self.screenshot(&format!("missing-{}", slug(what))).await;
                panic!("{what}: not there within {DEADLINE:?} on {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`; `what` names it.
    pub async fn wait_for(&self, css: &str, what: &str) -> Element {
        self.until(&format!("{what} ({css})"), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// The first element matching `css` that contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str, what: &str) -> Element {
        self.until(&format!("{what} ({css} containing {text:?})"), || async {
            for el in self.client.find_all(Locator::Css(css)).await.ok()? {
                if el.text().await.is_ok_and(|t| t.contains(text)) {
                    return Some(el);
                }
            }
            None
        })
        .await
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str, what: &str) {
        self.wait_for(css, what)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {what} ({css}): {e}"));
    }

    /// Saves a PNG of the viewport as `<dir>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Option<PathBuf> {
        let png = self.client.screenshot().await.ok()?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(format!("{}.png", slug(name)));
        std::fs::write(&path, png).ok()?;
        Some(path)
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test never reaches `close`: chromedriver (and its Chromium) must not outlive it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where screenshots go: `$HELPLINE_SCREENSHOT_DIR`, else `target/screenshots` (of
/// `$CARGO_TARGET_DIR` when set).
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HELPLINE_SCREENSHOT_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}
