//! One signed POST of an event to its target, and what came of it.
use std::time::Duration;

use chrono::Utc;
use entities::webhook_events as events;

use super::event_id;
use crate::deps::Deps;
use crate::email::{retry_after, truncate};
use crate::{signing, ssrf};

pub enum Outcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    Gone,
    Fail {
        status: Option<u16>,
        error: String,
    },
}

pub struct Target {
    pub url: String,
    pub secret: String,
}

pub async fn attempt(deps: &Deps, target: &Target, event: &events::Model) -> Outcome {
    let url = match ssrf::parse(&target.url) {
        Ok(url) => url,
        Err(e) => {
            return Outcome::Fail {
                status: None,
                error: e.to_string(),
            };
        }
    };
    if let Err(e) = ssrf::check_literal(&url, deps.settings.allow_private_targets) {
        return refused(e);
    }
    let body = event.payload.to_string();
    let msg_id = event_id(event.id);
    let timestamp = Utc::now().timestamp();
    let signature = match signing::sign(&target.secret, &msg_id, timestamp, body.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Fail {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let sent = deps
        .webhook_http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            if let Some(refusal) = ssrf::refusal(&e) {
                return refused(refusal);
            }
            let error = if e.is_timeout() {
                "timed out after 15 s".to_string()
            } else {
                format!("request failed: {e}")
            };
            return Outcome::Retry {
                status: None,
                error,
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Outcome::Delivered { status };
    }
    if status == 410 {
        return Outcome::Gone;
    }
    let after = matches!(status, 429 | 503)
        .then(|| retry_after(response.headers()))
        .flatten();
    let text = response.text().await.unwrap_or_default();
    Outcome::Retry {
        status: Some(status),
        error: format!("receiver answered {status}: {}", truncate(&text, 200)),
        after,
    }
}

/// A target our checks refused, before any byte was sent: an unresolvable name may resolve
/// later, a forbidden address is final. Nothing from the target is echoed.
fn refused(e: ssrf::TargetError) -> Outcome {
    match e {
        ssrf::TargetError::Unresolvable => Outcome::Retry {
            status: None,
            error: e.to_string(),
            after: None,
        },
        e => Outcome::Fail {
            status: None,
            error: format!("refused at delivery: {e}"),
        },
    }
}
