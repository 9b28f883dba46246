//! `stratus-cli`: the Stratus command-line client.
//!
//! Uploads go through block negotiation: only blocks the server lacks cross the network, four
//! at a time, with a progress bar per file and overall; an interrupted `put` resumes where it
//! stopped when run again. Downloads resume a `.part` file with Range and are checked against
//! their content hash. `sync push|pull` mirrors a folder one way. Errors print one line and
//! exit non-zero; `--json` prints machine-readable results.

mod client;
mod transfer;

use std::{io::BufRead, path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    client::Client,
    transfer::{Report, Transfers},
};

#[derive(Parser)]
#[command(name = "stratus-cli", version, about = "The Stratus command-line client")]
struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Where the login is kept (default: the user's config dir).
    #[arg(long, global = true, env = "STRATUS_CLI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in and remember the session (the password from STRATUS_PASSWORD or standard input).
    Login { server: String, user: String },
    /// Log out and forget the session.
    Logout,
    /// List a folder.
    Ls {
        #[arg(default_value = "/")]
        path: String,
    },
    /// Show a folder's tree.
    Tree {
        #[arg(default_value = "/")]
        path: String,
    },
    /// Create a folder (and its parents).
    Mkdir { path: String },
    /// Upload files or folders into a remote folder (resumes when run again).
    Put {
        #[arg(required = true)]
        local: Vec<PathBuf>,
        remote: String,
        /// replace (default: a new version), keep_both or fail.
        #[arg(long, default_value = "replace")]
        on_conflict: String,
    },
    /// Download a file or folder (resumes when run again).
    Get { remote: String, local: PathBuf },
    /// Move or rename.
    Mv { from: String, to: String },
    /// Copy on the server.
    Cp { from: String, to: String },
    /// Move to the trash.
    Rm { path: String },
    /// The trash.
    #[command(subcommand)]
    Trash(Trash),
    /// Share with a user.
    Share {
        path: String,
        user: String,
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// Create a public link.
    Link {
        path: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        expires_in_days: Option<i64>,
        #[arg(long)]
        max_downloads: Option<i64>,
        #[arg(long)]
        upload_only: bool,
    },
    /// A file's versions.
    Versions { path: String },
    /// Quota used and available.
    Quota,
    /// Mirror a folder one way: `push LOCAL REMOTE` or `pull LOCAL REMOTE`.
    Sync {
        direction: Direction,
        local: PathBuf,
        remote: String,
        /// Also delete what the other side no longer has.
        #[arg(long)]
        delete: bool,
        /// Show what would be done, do nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum Trash {
    Ls,
    Restore { id: String },
    Empty,
}

#[derive(Clone, clap::ValueEnum)]
enum Direction {
    Push,
    Pull,
}

#[derive(Serialize, Deserialize)]
struct Login {
    server: String,
    token: String,
}

fn config_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.config {
        Some(p) => Ok(p.clone()),
        None => Ok(dirs::config_dir().context("no config directory")?.join("stratus").join("cli.json")),
    }
}

fn save_login(path: &PathBuf, login: &Login) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec(login)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn load_login(path: &PathBuf) -> anyhow::Result<Login> {
    let text = std::fs::read(path)
        .map_err(|_| anyhow::anyhow!("not logged in: run `stratus-cli login SERVER USER`"))?;
    Ok(serde_json::from_slice(&text)?)
}

/// `/a/b` for `a/b`, `/a/b/`, …
fn remote(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}

fn split(path: &str) -> anyhow::Result<(String, String)> {
    let path = remote(path);
    match path.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() => {
            Ok((if dir.is_empty() { "/".into() } else { dir.into() }, name.into()))
        }
        _ => bail!("{path}: needs a name"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let path = config_path(cli)?;
    if let Command::Login { server, user } = &cli.command {
        let password = match std::env::var("STRATUS_PASSWORD") {
            Ok(p) => p,
            Err(_) => {
                eprint!("password: ");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_string()
            }
        };
        let (token, me) = Client::new(server, None).login(user, &password).await?;
        save_login(&path, &Login { server: server.clone(), token })?;
        return print(cli, json!({"user": me.username}), &format!("logged in as {}", me.username));
    }
    let login = load_login(&path)?;
    let client = Client::new(&login.server, Some(login.token));
    let bars = MultiProgress::with_draw_target(if cli.json {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let state_dir = path.with_file_name("uploads");
    let transfers = |dry_run| Transfers {
        client: client.clone(),
        state_dir: state_dir.clone(),
        bars: bars.clone(),
        dry_run,
    };
    match &cli.command {
        Command::Login { .. } => Ok(()),
        Command::Logout => {
            client.logout().await?;
            std::fs::remove_file(&path)?;
            print(cli, json!({}), "logged out")
        }
        Command::Ls { path } => {
            let node = client.at(&remote(path)).await?;
            let items = if node.is_folder() { client.children(&node.id).await? } else { vec![node] };
            let text: Vec<String> = items
                .iter()
                .map(|n| {
                    format!(
                        "{:>12}  {}  {}{}",
                        n.size,
                        n.modified_at.format("%Y-%m-%d %H:%M"),
                        n.name,
                        if n.is_folder() { "/" } else { "" }
                    )
                })
                .collect();
            print(cli, serde_json::to_value(&items)?, &text.join("\n"))
        }
        Command::Tree { path } => {
            let root = client.at(&remote(path)).await?;
            let files = transfers(false).remote_files(&root).await?;
            let text: Vec<String> = files.iter().map(|(p, n)| format!("{p}  ({} bytes)", n.size)).collect();
            print(cli, serde_json::to_value(files.keys().collect::<Vec<_>>())?, &text.join("\n"))
        }
        Command::Mkdir { path } => {
            let node = client.ensure_dir(&remote(path)).await?;
            print(cli, serde_json::to_value(&node)?, &format!("created {}", remote(path)))
        }
        Command::Put { local, remote: dest, on_conflict } => {
            let mut report = Report::default();
            let t = transfers(false);
            for path in local {
                t.put(path, remote(dest).trim_end_matches('/'), on_conflict, &mut report).await?;
            }
            let line =
                format!("sent {} files ({} bytes of blocks)", report.files_sent, report.block_bytes_sent);
            print(cli, serde_json::to_value(&report)?, &line)
        }
        Command::Get { remote: from, local } => {
            let mut report = Report::default();
            transfers(false).get(&remote(from), local, &mut report).await?;
            let line = format!("received {} files ({} bytes)", report.files_received, report.bytes_received);
            print(cli, serde_json::to_value(&report)?, &line)
        }
        Command::Mv { from, to } => {
            let node = client.at(&remote(from)).await?;
            let body = match client.by_path(&remote(to)).await? {
                Some(dest) if dest.is_folder() => json!({"parent_id": dest.id}),
                _ => {
                    let (dir, name) = split(to)?;
                    json!({"parent_id": client.at(&dir).await?.id, "name": name})
                }
            };
            let moved = client.patch(&node.id, body).await?;
            print(cli, serde_json::to_value(&moved)?, &format!("moved to {}", remote(to)))
        }
        Command::Cp { from, to } => {
            let node = client.at(&remote(from)).await?;
            let (parent, name) = match client.by_path(&remote(to)).await? {
                Some(dest) if dest.is_folder() => (dest, node.name.clone()),
                _ => {
                    let (dir, name) = split(to)?;
                    (client.at(&dir).await?, name)
                }
            };
            let copy = client.copy(&node.id, &parent.id, &name).await?;
            print(cli, serde_json::to_value(&copy)?, &format!("copied to {}", remote(to)))
        }
        Command::Rm { path } => {
            let node = client.at(&remote(path)).await?;
            client.delete(&node.id).await?;
            print(cli, json!({"id": node.id}), &format!("moved {} to the trash", remote(path)))
        }
        Command::Trash(Trash::Ls) => {
            let items = client.trash().await?;
            let text: Vec<String> = items
                .iter()
                .map(|i| {
                    format!(
                        "{}  {}/{}  ({} bytes)",
                        i.id,
                        i.original_path.trim_end_matches('/'),
                        i.name,
                        i.size
                    )
                })
                .collect();
            print(cli, serde_json::to_value(&items)?, &text.join("\n"))
        }
        Command::Trash(Trash::Restore { id }) => {
            let node = client.restore(id).await?;
            print(cli, serde_json::to_value(&node)?, &format!("restored {}", node.name))
        }
        Command::Trash(Trash::Empty) => {
            client.empty_trash().await?;
            print(cli, json!({}), "the trash is empty")
        }
        Command::Share { path, user, role } => {
            let node = client.at(&remote(path)).await?;
            let share = client.share(&node.id, user, role).await?;
            print(cli, share, &format!("shared {} with {user} as {role}", remote(path)))
        }
        Command::Link { path, password, expires_in_days, max_downloads, upload_only } => {
            let node = client.at(&remote(path)).await?;
            let expires =
                expires_in_days.map(|d| (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339());
            let options = json!({"password": password, "expires_at": expires, "max_downloads": max_downloads, "upload_only": upload_only});
            let link = client.link(&node.id, options).await?;
            let url = format!("{}{}", client.base(), link["url"].as_str().unwrap_or_default());
            print(cli, link, &url)
        }
        Command::Versions { path } => {
            let node = client.at(&remote(path)).await?;
            let versions = client.versions(&node.id).await?;
            let text: Vec<String> = versions
                .iter()
                .map(|v| {
                    format!("{}  {}  {:>12} bytes", v.id, v.created_at.format("%Y-%m-%d %H:%M:%S"), v.size)
                })
                .collect();
            print(cli, serde_json::to_value(&versions)?, &text.join("\n"))
        }
        Command::Quota => {
            let me = client.me().await?;
            let line = format!("{} of {} bytes used", me.quota.used, me.quota.limit);
            print(cli, serde_json::to_value(me.quota)?, &line)
        }
        Command::Sync { direction, local, remote: other, delete, dry_run } => {
            let mut report = Report::default();
            let t = transfers(*dry_run);
            match direction {
                Direction::Push => t.push(local, &remote(other), *delete, &mut report).await?,
                Direction::Pull => t.pull(&remote(other), local, *delete, &mut report).await?,
            }
            let line = if *dry_run {
                if report.planned.is_empty() {
                    "nothing to do".to_string()
                } else {
                    report.planned.join("\n")
                }
            } else {
                format!(
                    "sent {} files ({} bytes of blocks), received {} files, skipped {} unchanged, deleted {}",
                    report.files_sent,
                    report.block_bytes_sent,
                    report.files_received,
                    report.files_skipped,
                    report.deleted
                )
            };
            print(cli, serde_json::to_value(&report)?, &line)
        }
    }
}

fn print(cli: &Cli, value: serde_json::Value, text: &str) -> anyhow::Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string(&value)?);
    } else if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}
