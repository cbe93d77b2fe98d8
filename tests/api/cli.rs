//! The `helpline` binary: tenant and staff creation, and configuration errors.
use std::process::Command;

use serde_json::Value;

fn helpline(dir: &tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_helpline"));
    cmd.current_dir(dir.path())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run helpline")
}

#[test]
fn tenants_and_staff_are_created_on_the_default_embedded_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = helpline(
        &dir,
        &[
            "tenants",
            "create",
            "--name",
            "Acme",
            "--email",
            "dev@acme.test",
            "--plan",
            "pilot",
            "--balance-cents",
            "7",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(body["tenant"]["plan"], "pilot");
    assert_eq!(body["tenant"]["balance_cents"], 7);
    assert!(
        body["secret_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("hl_sk_"))
    );
    assert!(
        dir.path().join("helpline-data/helpline.db").exists(),
        "default SQLite file created"
    );

    let out = helpline(&dir, &["staff", "create", "--name", "Dana"], &[]);
    assert!(out.status.success());
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(body["staff"]["name"], "Dana");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|k| k.starts_with("hl_staff_"))
    );

    let out = helpline(&dir, &["migrate"], &[]);
    assert!(out.status.success());
}

#[test]
fn bad_input_and_bad_configuration_fail_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = helpline(
        &dir,
        &["tenants", "create", "--name", "A", "--email", "nope"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--email"));

    for (var, value) in [
        ("HELPLINE_LISTEN", "not-an-address"),
        ("HELPLINE_TICKET_FEE_CENTS", "-3"),
        ("HELPLINE_BUSINESS_HOURS", "Someday 9-5"),
        ("DATABASE_URL", "mysql://localhost/x"),
    ] {
        let out = helpline(&dir, &["migrate"], &[(var, value)]);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "names {var}: {stderr}");
    }
}

/// The first start prints a URL that works (the bound port, not a placeholder), and logs
/// written to a pipe carry no colour escapes.
#[test]
fn first_start_prints_the_real_url_and_plain_logs() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_helpline"))
        .current_dir(dir.path())
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("HELPLINE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start helpline");
    let stdout = child.stdout.take().expect("stdout");
    let mut url_line = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line.contains("/admin/tenants") {
            url_line = Some(line);
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .ok();
    let line = url_line.expect("a first-start message naming /admin/tenants");
    assert!(!line.contains("<listen>"), "{line}");
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("http://127.0.0.1:<port>/admin/tenants");
    assert_ne!(port, 0);
    assert!(logs.contains("helpline listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour escapes in piped logs: {logs:?}"
    );
}
