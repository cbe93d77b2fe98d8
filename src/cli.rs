//! The `helpline` command line (docs/API.md §1).
use std::process::ExitCode;

use actix_web::web;
use clap::{Args, Parser, Subcommand};
use entities::staff;
use entities::values::WorkerKind;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::app::{self, AppState};
use crate::config::{Config, LogFormat};
use crate::domain::plan::Plan;
use crate::domain::validate::{Email, Name};
use crate::jobs::Jobs;
use crate::tenants::TenantOut;
use crate::tenants::provision::{self, NewTenant};
use crate::tenants::registry::Registry;
use crate::{db, domain};
use workers::lease::Instance;

#[derive(Parser)]
#[command(
    name = "helpline",
    version,
    about = "Multi-tenant support desk for API platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API, job workers and outbox relay in one process.
    Serve(RunArgs),
    /// API only (scale out behind a load balancer).
    Api(RunArgs),
    /// Job workers and outbox relay only.
    Worker(RunArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Manage operators.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Do not apply migrations at start.
    #[arg(long)]
    no_migrate: bool,
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Create a tenant; prints {"tenant": {...}, "secret_key": "hl_sk_..."}.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "free")]
        plan: String,
        #[arg(long)]
        balance_cents: Option<i64>,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create an operator; prints {"staff": {...}, "token": "hl_staff_..."}.
    Create {
        #[arg(long)]
        name: String,
    },
}

/// A failure to report as one line on stderr, with its exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    fn runtime(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: 1,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("helpline: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let result = actix_web::rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime")
    })
    .block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("helpline: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: a file or a pipe keeps plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open(config: &Config, migrate: bool) -> Result<DatabaseConnection, Failure> {
    let conn = db::connect(&config.database_url, config.db_pool_size)
        .await
        .map_err(|e| Failure::runtime(format!("cannot open DATABASE_URL: {e}")))?;
    if migrate {
        db::migrate(&conn)
            .await
            .map_err(|e| Failure::runtime(format!("migration failed: {e}")))?;
    }
    Ok(conn)
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

async fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Migrate => {
            open(&config, true).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Tenants {
            command:
                TenantsCommand::Create {
                    name,
                    email,
                    plan,
                    balance_cents,
                },
        } => {
            let new = NewTenant {
                name: Name::parse(&name, "name").map_err(field_failure)?,
                email: Email::parse(&email, "email").map_err(field_failure)?,
                plan: plan.parse::<Plan>().map_err(field_failure)?,
                balance_cents: match balance_cents.unwrap_or(config.start_balance_cents) {
                    n if n >= 0 => n,
                    _ => return Err(Failure::usage("--balance-cents must be 0 or more")),
                },
            };
            let conn = open(&config, true).await?;
            let (tenant, key) = provision::create_tenant(&conn, new)
                .await
                .map_err(Failure::runtime)?;
            print_json(&json!({"tenant": TenantOut::from(tenant), "secret_key": key.token}));
            Ok(())
        }
        Command::Staff {
            command: StaffCommand::Create { name },
        } => {
            let name = Name::parse(&name, "name").map_err(field_failure)?;
            let conn = open(&config, true).await?;
            let (member, token) = provision::create_staff(&conn, name)
                .await
                .map_err(Failure::runtime)?;
            print_json(&json!({
                "staff": {"id": member.id, "name": member.name, "prefix": member.prefix,
                          "created_at": member.created_at},
                "token": token.token,
            }));
            Ok(())
        }
        Command::Serve(args) => serve(config, args, true).await,
        Command::Api(args) => serve(config, args, false).await,
        Command::Worker(args) => {
            let conn = open(&config, !args.no_migrate).await?;
            let instance = register(&conn, &config, WorkerKind::Worker).await?;
            let jobs = Jobs::connect(&config).await.map_err(Failure::runtime)?;
            // SLA alerts run in tenant actors, as on an API node. No feed reader runs
            // here: the API nodes' readers find the worker's events when they poll.
            let tenants = Registry::new(
                conn.clone(),
                std::sync::Arc::new(config.clone()),
                jobs.nudge.clone(),
                crate::feed::hub::FeedWake::default(),
                1,
            );
            let handle = jobs
                .start(conn, &config, tenants)
                .map_err(Failure::runtime)?;
            tracing::info!(queue = jobs.transport.kind(), "worker started");
            shutdown_signal().await;
            tracing::info!("stopping: finishing running jobs");
            jobs.stop();
            Jobs::join(handle, JOBS_STOP_LIMIT).await;
            instance.stop().await;
            Ok(())
        }
    }
}

fn field_failure(e: domain::FieldError) -> Failure {
    Failure::usage(format!("--{}: {}", e.field.replace('_', "-"), e.message))
}

/// How long a stopping process waits for running jobs.
const JOBS_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `serve` (API, workers and relay) or `api` (API only).
async fn serve(config: Config, args: RunArgs, all_in_one: bool) -> Result<(), Failure> {
    let conn = open(&config, !args.no_migrate).await?;
    let instance = register(
        &conn,
        &config,
        if all_in_one {
            WorkerKind::Serve
        } else {
            WorkerKind::Api
        },
    )
    .await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let bound = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(listen = %bound, console = %format!("{}/console", crate::config::local_url(bound)), "helpline listening");
    if all_in_one {
        bootstrap_admin(&conn, &crate::config::local_url(bound)).await?;
    }
    let state = web::Data::new(
        AppState::new(config, conn)
            .await
            .map_err(Failure::runtime)?,
    );
    let workers = if all_in_one {
        Some(
            state
                .jobs
                .start(state.db.clone(), &state.config, state.tenants.clone())
                .map_err(Failure::runtime)?,
        )
    } else {
        None
    };
    app::spawn_housekeeping(state.clone());
    // Open event streams never finish by themselves: end them when the server stops.
    let feed = state.feed.clone();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        feed.close();
    });
    // Returns after SIGTERM/SIGINT, once in-flight requests have finished.
    let served = app::http_server(state.clone(), listener)
        .map_err(Failure::runtime)?
        .await;
    state.jobs.stop();
    if let Some(handle) = workers {
        Jobs::join(handle, JOBS_STOP_LIMIT).await;
    }
    instance.stop().await;
    served.map_err(Failure::runtime)
}

/// Registers this process as a lease owner; the leases of dead processes (a predecessor
/// killed before this start, on the embedded database every earlier one) are taken back
/// before any request or job runs here.
async fn register(
    conn: &DatabaseConnection,
    config: &Config,
    kind: WorkerKind,
) -> Result<Instance, Failure> {
    Instance::start(conn.clone(), kind, config.host_id.clone())
        .await
        .map_err(|e| Failure::runtime(format!("cannot register this process: {e}")))
}

/// On an empty database, creates operator `admin` and prints its token once.
async fn bootstrap_admin(conn: &DatabaseConnection, base_url: &str) -> Result<(), Failure> {
    let existing = staff::Entity::find()
        .count(conn)
        .await
        .map_err(Failure::runtime)?;
    if existing > 0 {
        return Ok(());
    }
    let name = Name::parse("admin", "name").map_err(field_failure)?;
    let (_, token) = provision::create_staff(conn, name)
        .await
        .map_err(Failure::runtime)?;
    println!(
        "Created operator `admin`. Its token is shown only this once:\n\n    {}\n",
        token.token
    );
    println!("Open the operator console at {base_url}/console and sign in with it.\n");
    println!(
        "Create a tenant with:\n    curl -s -X POST {base_url}/admin/tenants -H 'Authorization: Bearer {}' \\\n      -H 'Content-Type: application/json' -d '{{\"name\": \"Acme\", \"email\": \"dev@acme.test\"}}'\n",
        token.token
    );
    Ok(())
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
