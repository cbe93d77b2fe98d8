//! Runs the README's walkthrough, command by command, against a live server, so the README
//! cannot drift from the product.
use std::process::Command;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(readme_walkthrough_runs);

/// The ```sh blocks between the walkthrough markers, joined into one script.
fn walkthrough() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let mut script = String::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        match (in_block, line.trim()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

async fn readme_walkthrough_runs(backend: Backend) {
    // Production defaults: webhook targets are checked as a user's server would.
    let app = TestApp::spawn_with(backend, &[("HELPLINE_ALLOW_PRIVATE_TARGETS", "false")]).await;
    let script = walkthrough();
    assert!(
        script.matches("curl ").count() >= 20,
        "the walkthrough has its examples"
    );
    let base = app.base.clone();
    let admin = app.admin_token.clone();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{script}"))
            .env("HELPLINE", base)
            .env("ADMIN", admin)
            .output()
            .expect("bash")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "README walkthrough failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\"status\":\"degraded\""), "{stdout}");
    assert!(stdout.contains("helpline_queue_jobs"), "{stdout}");
    assert!(
        stdout.contains("event: support.ticket_created"),
        "the stream replays the feed: {stdout}"
    );
}
