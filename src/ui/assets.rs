//! The stylesheet and scripts, compiled into the binary and served at stable paths.
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

pub const STYLESHEET: &str = "/assets/app.css";
pub const CONSOLE_SCRIPT: &str = "/assets/console.js";

/// A file the binary serves under `/assets/`.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

pub const ASSETS: &[Asset] = &[
    Asset {
        path: STYLESHEET,
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/app.css"),
    },
    Asset {
        path: CONSOLE_SCRIPT,
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/console.js"),
    },
];

/// Each asset's strong ETag (a hash of its bytes), so browsers revalidate cheaply.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..16]))
        .collect()
});

/// The asset at `path` and its ETag.
pub fn find(path: &str) -> Option<(&'static Asset, &'static str)> {
    ASSETS
        .iter()
        .position(|a| a.path == path)
        .map(|i| (&ASSETS[i], ETAGS[i].as_str()))
}
