//! Medians over several runs, each scenario as a ratio to the baseline measured in the
//! same run, checked against the targets of issue 9.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::Outcome;

struct Run {
    label: String,
    backend: String,
    pgbench_tps: Option<f64>,
    pgbench_serial_tps: Option<f64>,
    rows: BTreeMap<String, Outcome>,
}

/// `None` for a file that is not a `run --json` document (e.g. an earlier summary).
fn load(path: &Path) -> Result<Option<Run>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let doc: Value = serde_json::from_str(&text)?;
    if !doc["scenarios"].is_array() {
        return Ok(None);
    }
    let label = doc["label"].as_str().unwrap_or("");
    let backend = label.split('/').next().unwrap_or("").to_string();
    let rows: Vec<Outcome> = serde_json::from_value(doc["scenarios"].clone())?;
    Ok(Some(Run {
        label: label.to_string(),
        backend,
        pgbench_tps: doc["pgbench_tps"].as_f64(),
        pgbench_serial_tps: doc["pgbench_serial_tps"].as_f64(),
        rows: rows.into_iter().map(|r| (r.scenario.clone(), r)).collect(),
    }))
}

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

struct Line {
    metric: String,
    values: Vec<f64>,
    target: Option<(&'static str, f64)>,
}

impl Line {
    fn new(metric: &str, values: Vec<f64>) -> Self {
        Self {
            metric: metric.into(),
            values,
            target: None,
        }
    }

    fn target(mut self, op: &'static str, bound: f64) -> Self {
        self.target = Some((op, bound));
        self
    }
}

fn extra(r: &Outcome, k: &str) -> Option<f64> {
    r.extra.get(k).and_then(Value::as_f64)
}

pub fn report(files: &[std::path::PathBuf], json_out: Option<&Path>) -> Result<()> {
    // Files with the same label (one run's scenarios and its webhook drain) are one run.
    let mut runs: Vec<Run> = Vec::new();
    for file in files {
        let Some(run) = load(file)? else { continue };
        match runs.iter_mut().find(|r| r.label == run.label) {
            Some(same) => {
                same.rows.extend(run.rows);
                same.pgbench_tps = same.pgbench_tps.or(run.pgbench_tps);
                same.pgbench_serial_tps = same.pgbench_serial_tps.or(run.pgbench_serial_tps);
            }
            None => runs.push(run),
        }
    }
    let mut backends: Vec<String> = runs.iter().map(|r| r.backend.clone()).collect();
    backends.dedup();
    backends.sort();
    backends.dedup();
    let mut summary = serde_json::Map::new();
    for backend in backends {
        let runs: Vec<&Run> = runs.iter().filter(|r| r.backend == backend).collect();
        let per = |f: &dyn Fn(&Run) -> Option<f64>| -> Vec<f64> {
            runs.iter().filter_map(|r| f(r)).collect()
        };
        let row = |r: &Run, s: &str| r.rows.get(s).filter(|o| o.requests > 0).cloned();
        let mut lines = Vec::new();
        for s in ["healthz", "create", "read", "reply", "reject"] {
            lines.push(Line::new(
                &format!("{s} req/s"),
                per(&|r| row(r, s).map(|o| o.rps)),
            ));
            lines.push(Line::new(
                &format!("{s} p99 ms"),
                per(&|r| row(r, s).map(|o| o.p99_ms)),
            ));
        }
        lines.push(Line::new("pgbench create-txn TPS", per(&|r| r.pgbench_tps)));
        lines.push(
            Line::new(
                "create / pgbench TPS",
                per(&|r| Some(row(r, "create")?.rps / r.pgbench_tps?)),
            )
            .target(">=", 0.5),
        );
        lines.push(Line::new(
            "pgbench TPS, 1 client",
            per(&|r| r.pgbench_serial_tps),
        ));
        lines.push(Line::new(
            "create / pgbench 1 client",
            per(&|r| Some(row(r, "create")?.rps / r.pgbench_serial_tps?)),
        ));
        lines.push(Line::new(
            "create / healthz req/s",
            per(&|r| Some(row(r, "create")?.rps / row(r, "healthz")?.rps)),
        ));
        lines.push(Line::new(
            "create@half rate req/s",
            per(&|r| row(r, "create@half").map(|o| o.rps)),
        ));
        lines.push(
            Line::new(
                "create@half p99 ms",
                per(&|r| row(r, "create@half").map(|o| o.p99_ms)),
            )
            .target("<=", 25.0),
        );
        lines.push(
            Line::new(
                "reject / healthz req/s",
                per(&|r| Some(row(r, "reject")?.rps / row(r, "healthz")?.rps)),
            )
            .target(">=", 0.7),
        );
        lines.push(Line::new(
            "mixed p99 ms (flood)",
            per(&|r| row(r, "mixed").map(|o| o.p99_ms)),
        ));
        lines.push(
            Line::new(
                "mixed p99 flood / alone",
                per(&|r| extra(&row(r, "mixed")?, "p99_ratio")),
            )
            .target("<=", 2.0),
        );
        lines.push(Line::new(
            "mixed flood 429/s",
            per(&|r| extra(&row(r, "mixed")?, "flood_rps")),
        ));
        let drain = Line::new(
            "webhook deliveries/s",
            per(&|r| extra(&row(r, "webhook-drain")?, "deliveries_per_s")),
        );
        lines.push(if backend == "postgres" {
            drain.target(">=", 3000.0)
        } else {
            drain
        });
        lines.push(Line::new(
            "tenants touched",
            per(&|r| extra(&row(r, "tenants")?, "tenants")),
        ));
        lines.push(Line::new(
            "tenants touch req/s",
            per(&|r| row(r, "tenants").map(|o| o.rps)),
        ));
        lines.push(Line::new(
            "RSS before touch MB",
            per(&|r| extra(&row(r, "tenants")?, "rss_before_mb")),
        ));
        lines.push(
            Line::new(
                "RSS tenants touched MB",
                per(&|r| extra(&row(r, "tenants")?, "rss_touched_mb")),
            )
            .target("<=", 200.0),
        );
        lines.push(Line::new(
            "RSS after idle MB",
            per(&|r| extra(&row(r, "tenants")?, "rss_idle_mb")),
        ));
        lines.push(Line::new(
            "live actors touched",
            per(&|r| extra(&row(r, "tenants")?, "actors_touched")),
        ));
        lines.push(
            Line::new(
                "live actors after idle",
                per(&|r| extra(&row(r, "tenants")?, "actors_idle")),
            )
            .target("<=", 0.0),
        );

        println!("\n== {backend}: medians of {} runs ==", runs.len());
        println!(
            "{:<26} {:>12}  {:<34} {:<10} verdict",
            "metric", "median", "runs", "target"
        );
        let mut out = serde_json::Map::new();
        for l in lines {
            let Some(m) = median(l.values.clone()) else {
                continue;
            };
            let runs_text: Vec<String> = l.values.iter().map(|v| fmt(*v)).collect();
            let (target, verdict) = match l.target {
                Some((op, bound)) => {
                    let met = if op == ">=" { m >= bound } else { m <= bound };
                    let by = if bound == 0.0 || met {
                        String::new()
                    } else {
                        format!(" (off by {:.0}%)", ((m - bound) / bound * 100.0).abs())
                    };
                    (
                        format!("{op} {}", fmt(bound)),
                        format!("{}{by}", if met { "MET" } else { "MISSED" }),
                    )
                }
                None => (String::new(), String::new()),
            };
            println!(
                "{:<26} {:>12}  {:<34} {:<10} {}",
                l.metric,
                fmt(m),
                runs_text.join(" "),
                target,
                verdict
            );
            out.insert(
                l.metric.clone(),
                json!({"median": m, "runs": l.values, "target": target, "verdict": verdict}),
            );
        }
        summary.insert(backend, Value::Object(out));
    }
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(summary))?)?;
    }
    Ok(())
}

fn fmt(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.1 {
        format!("{v:.4}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
