//! `stratus`: run the drive (`serve`) or administer it (`admin`).

use std::{io::BufRead, path::PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use stratus_core::VolumeState;
use stratus_server::{Application, Config};
use stratus_service::Registration;
use tracing_subscriber::EnvFilter;

/// jemalloc, not glibc's malloc: glibc keeps an arena per thread that held a 4 MiB block and
/// rarely gives pages back, so the server's memory grew with every concurrent upload and
/// stayed; jemalloc returns freed pages from a background thread. It is C's `malloc` too
/// (SQLite's), with one arena (`.cargo/config.toml`); measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "stratus", version, about = "A self-hosted cloud drive")]
struct Cli {
    /// TOML configuration file (environment variables STRATUS_* override it).
    #[arg(long, global = true, env = "STRATUS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the drive (default http://127.0.0.1:8080, data in ./stratus-data).
    Serve,
    /// Administer the drive on the same configuration.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create an account (the first administrator, typically).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The password; else STRATUS_ADMIN_PASSWORD; else the first line of standard input.
        #[arg(long, env = "STRATUS_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts, optionally searched by username, email or display name.
    Users {
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Change an account (by username or email): disable or enable it (a disabled user's
    /// sessions and tokens stop at once), set its plan or quota, grant or revoke admin.
    User {
        login: String,
        #[arg(long)]
        disable: bool,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Plan size in GB: 1 (free) or 10 to 100.
        #[arg(long)]
        plan: Option<u64>,
        /// Quota in bytes.
        #[arg(long)]
        quota: Option<u64>,
        /// `true` to make an administrator, `false` to revoke.
        #[arg(long)]
        admin: Option<bool>,
    },
    /// The audit log (logins, failures, password changes, shares, links, admin actions), newest first.
    Audit {
        /// Only this action (login_failed, share_created, admin_user_updated, …).
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Every background job: its interval, next due time and latest run.
    Jobs,
    /// Run a background job now: purge-trash, expire-links, expire-uploads, version-retention, gc,
    /// refresh-stats.
    RunJob { name: String },
    /// Manage the volumes blocks are stored on (the running server picks changes up within
    /// seconds).
    #[command(subcommand)]
    Volume(Volume),
    /// Check the block store against the metadata: every referenced block present with its
    /// replicas and the right hash, every block file referenced, reference counts right.
    /// Exits with 1 when something is wrong.
    Fsck {
        /// Fix what is found (repair copies, fix counts, collect stale garbage), then check again.
        #[arg(long)]
        repair: bool,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete block files nothing references (after a grace period, so uploads in flight are safe).
    Gc {
        /// Only blocks unused for this many seconds are deleted.
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
    },
}

#[derive(Subcommand)]
enum Volume {
    /// Every volume with its pool, state, capacity, use and health.
    List,
    /// Add a volume: a directory (one per disk) or s3://bucket/prefix.
    Add {
        #[arg(long, default_value = "A")]
        pool: String,
        location: String,
    },
    /// Serve reads only; take no new blocks.
    Readonly { id: String },
    /// Take new blocks again.
    Activate { id: String },
    /// Move every block elsewhere (the drain job), after which the volume can be removed.
    Drain { id: String },
    /// Unregister an empty volume (or, with --force, an offline one whose copies are lost).
    Remove {
        id: String,
        #[arg(long)]
        force: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Admin(Admin::CreateUser { username, email, password, admin }) => {
            let password = match password {
                Some(p) => p,
                None => read_password()?,
            };
            let (stratus, _) = stratus_server::open(&config).await?;
            let user = stratus
                .create_user(Registration { username, email, password }, admin)
                .await
                .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            let role = if admin { "administrator" } else { "user" };
            println!("created {role} {} (id {})", user.username, user.id);
            Ok(())
        }
        Command::Admin(Admin::Users { search, limit, offset }) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let filter = stratus_service::UserFilter { search, offset, limit };
            let (users, total) =
                stratus.users(filter).await.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            println!("username\temail\tplan\tused\tquota\tadmin\tdisabled\tverified\tid");
            for u in &users {
                println!(
                    "{}\t{}\t{} GB\t{} MiB\t{} MiB\t{}\t{}\t{}\t{}",
                    u.username,
                    u.email,
                    u.plan_gb,
                    u.quota.used >> 20,
                    u.quota.limit >> 20,
                    u.is_admin,
                    u.disabled,
                    u.email_verified,
                    u.id
                );
            }
            println!("{} of {total} accounts", users.len());
            Ok(())
        }
        Command::Admin(Admin::User { login, disable, enable, plan, quota, admin }) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let disabled = (disable || enable).then_some(disable);
            let update = stratus_service::UserUpdate { disabled, is_admin: admin, plan_gb: plan, quota };
            let u = stratus
                .update_user_cli(&login, update)
                .await
                .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            println!(
                "{}: plan {} GB, quota {} bytes, admin {}, disabled {}",
                u.username, u.plan_gb, u.quota.limit, u.is_admin, u.disabled
            );
            Ok(())
        }
        Command::Admin(Admin::Audit { action, limit, json }) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let filter = stratus_service::AuditFilter { action, limit, ..Default::default() };
            let entries =
                stratus.audit_log(filter).await.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            for e in &entries {
                if json {
                    println!("{}", serde_json::to_string(e)?);
                } else {
                    let outcome = if e.success { "ok" } else { "FAILED" };
                    println!(
                        "{}\t{}\t{outcome}\t{}\t{}\t{}\t{}",
                        e.at.to_rfc3339(),
                        e.action,
                        e.actor.as_deref().unwrap_or("-"),
                        e.target.as_deref().unwrap_or("-"),
                        e.ip.as_deref().unwrap_or("-"),
                        e.detail.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Command::Admin(Admin::Jobs) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let jobs = stratus.job_statuses().await.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            println!("job\tevery\tnext due\tlast run\tstarted\titems\tnode");
            for j in jobs {
                let next = j.next_due_at.map_or("-".to_string(), |t| t.to_rfc3339());
                let last = match &j.last_run {
                    Some(r) => {
                        format!("{}\t{}\t{}\t{}", r.outcome, r.started_at.to_rfc3339(), r.items, r.holder)
                    }
                    None => "never\t-\t-\t-".to_string(),
                };
                println!("{}\t{}s\t{next}\t{last}", j.job.name(), j.job.every().as_secs());
            }
            Ok(())
        }
        Command::Admin(Admin::RunJob { name }) => {
            let job = stratus_service::Job::parse(&name).with_context(|| {
                let names: Vec<&str> = stratus_service::Job::ALL.iter().map(|j| j.name()).collect();
                format!("no job called {name:?}; the jobs are {}", names.join(", "))
            })?;
            let (stratus, _) = stratus_server::open(&config).await?;
            match stratus
                .run_job(job, stratus.node_name())
                .await
                .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?
            {
                Some(run) => println!("{}: {} ({} items)", run.name, run.outcome, run.items),
                None => bail!("another server is running {name} right now"),
            }
            Ok(())
        }
        Command::Admin(Admin::Volume(command)) => volume(&config, command).await,
        Command::Admin(Admin::Fsck { repair, json }) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let report = stratus.fsck(repair).await.map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_findings("found", &report.found);
                if let Some(after) = &report.after {
                    println!(
                        "repaired: {} corrupt copies, {} copies made, {} counts fixed, {} users' usage \
                         recounted, {} garbage blocks collected",
                        report.scrub.as_ref().map_or(0, |s| s.repaired),
                        report.repair.as_ref().map_or(0, |r| r.copies_made),
                        report.refcounts_fixed,
                        report.usage_fixed,
                        report.garbage_collected
                    );
                    print_findings("after repair", after);
                }
            }
            if !report.clean() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Admin(Admin::Gc { grace_secs }) => {
            let (stratus, _) = stratus_server::open(&config).await?;
            let done = stratus
                .collect_garbage(std::time::Duration::from_secs(grace_secs))
                .await
                .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
            println!("examined {} block files, deleted {}", done.examined, done.blocks);
            Ok(())
        }
    }
}

async fn volume(config: &Config, command: Volume) -> anyhow::Result<()> {
    let (stratus, _) = stratus_server::open(config).await?;
    let failed = |e: stratus_service::ServiceError| anyhow::anyhow!("{e} ({})", e.code());
    let changed = match command {
        Volume::List => {
            let overview = stratus.storage_overview(true).await.map_err(failed)?;
            println!("id\tpool\tstate\thealth\tused\tfree\tblocks\tlocation");
            for v in &overview.volumes {
                let used = v.used_ratio.map_or("-".into(), |r| format!("{:.0}%", r * 100.0));
                let free = v.available_bytes.map_or("-".into(), |b| format!("{} MiB", b >> 20));
                let blocks = v.block_files.map_or("-".into(), |n| n.to_string());
                let state = v.state.as_str();
                println!(
                    "{}\t{}\t{state}\t{}\t{used}\t{free}\t{blocks}\t{}",
                    v.id, v.pool, v.health, v.location
                );
            }
            for warning in &overview.warnings {
                println!("warning: {warning}");
            }
            return Ok(());
        }
        Volume::Add { pool, location } => {
            let v = stratus.add_volume(&pool, &location).await.map_err(failed)?;
            println!("added volume {} (pool {}) at {}", v.id, v.pool, v.location);
            return Ok(());
        }
        Volume::Readonly { id } => stratus.set_volume_state(&id, VolumeState::ReadOnly).await.map(|()| id),
        Volume::Activate { id } => stratus.set_volume_state(&id, VolumeState::Active).await.map(|()| id),
        Volume::Drain { id } => stratus.set_volume_state(&id, VolumeState::Draining).await.map(|()| id),
        Volume::Remove { id, force } => stratus.remove_volume(&id, force).await.map(|()| id),
    }
    .map_err(failed)?;
    println!("volume {changed}: done");
    Ok(())
}

fn print_findings(title: &str, f: &stratus_service::FsckFindings) {
    println!(
        "{title}: {} blocks in {} copies, {} referenced; missing {}, corrupt copies {}, under-replicated {}, \
         stale garbage {}, reference counts wrong {}, usage counters wrong {}, corrupt inline files {}, \
         pending garbage {}{}",
        f.blocks,
        f.copies,
        f.referenced,
        f.missing,
        f.corrupt_copies,
        f.under_replicated,
        f.stale_garbage,
        f.refcount_mismatches,
        f.usage_mismatches,
        f.corrupt_inline,
        f.pending_garbage,
        if f.offline_volumes.is_empty() {
            String::new()
        } else {
            format!("; offline volumes: {}", f.offline_volumes.join(", "))
        }
    );
    println!("{}", if f.clean() { "clean" } else { "NOT clean" });
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(&config).await?;
    let addr = app.local_addr()?;
    tracing::info!(data_dir = %config.data_dir.display(), "listening on http://{addr}");
    app.run_until(shutdown_signal()).await
}

fn read_password() -> anyhow::Result<String> {
    eprintln!("password:");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        bail!("no password given (use --password, STRATUS_ADMIN_PASSWORD or standard input)");
    }
    Ok(password)
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_env("STRATUS_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
