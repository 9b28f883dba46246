//! `stratus-bench`: starts `stratus serve` (the release binary next to this one) on a temporary
//! data dir and prints the figures of docs/benchmarks.md. A program, not a test: it measures
//! and reports, it does not pass or fail.
//!
//! ```sh
//! cargo build --release --workspace --bins && target/release/stratus-bench
//! target/release/stratus-bench --peers   # side by side with nginx and rclone (peers.rs)
//! ```

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use futures_util::{StreamExt, stream};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

mod peers;

const MIB: usize = 1 << 20;
const MB: f64 = 1_000_000.0;

#[derive(Parser)]
#[command(about = "Measure Stratus on this machine")]
struct Args {
    /// Size of the large-file upload and download, in MiB.
    #[arg(long, default_value_t = 1024)]
    large_mib: usize,
    /// Number of small (4 KiB) files uploaded.
    #[arg(long, default_value_t = 2000)]
    small_files: usize,
    /// Concurrent connections for the small-file uploads.
    #[arg(long, default_value_t = 8)]
    small_concurrency: usize,
    /// Entries in the folder whose listing is timed.
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// Metadata database (default: SQLite in the temporary data dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Volumes of pool A (directories in the temporary data dir).
    #[arg(long, default_value_t = 1)]
    volumes: usize,
    /// Copies of each block (takes effect with two volumes or more).
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Skip the CLI and curl comparison.
    #[arg(long)]
    no_cli: bool,
    /// Run the same work against nginx's WebDAV and `rclone serve webdav` too, side by side.
    #[arg(long)]
    peers: bool,
    /// Interleaved rounds of the side-by-side run (the median is printed).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of each `wrk` run in the side-by-side run.
    #[arg(long, default_value_t = 10)]
    wrk_seconds: u64,
}

/// The server under test, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &Args) -> anyhow::Result<Self> {
        let database_url = args.database_url.as_deref();
        let exe = std::env::current_exe()?;
        let binary: PathBuf = exe.with_file_name("stratus");
        if !binary.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release --workspace --bins`",
                binary.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let mut cmd = Command::new(&binary);
        cmd.arg("serve")
            .env("STRATUS_LISTEN", "127.0.0.1:0")
            .env("STRATUS_DATA_DIR", dir.path())
            .env("STRATUS_DEFAULT_QUOTA", (1u64 << 40).to_string())
            .env("STRATUS_LOG", "warn,stratus=info")
            .env("NO_COLOR", "1")
            .env("STRATUS_REPLICAS", args.replicas.to_string())
            .env("STRATUS_SCRUB_RATE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match database_url {
            Some(url) => cmd.env("STRATUS_DATABASE_URL", url),
            None => cmd.env_remove("STRATUS_DATABASE_URL"),
        };
        if args.volumes > 1 {
            let volumes: Vec<String> = (1..=args.volumes)
                .map(|i| format!("A={}", dir.path().join(format!("disk{i}")).display()))
                .collect();
            cmd.env("STRATUS_VOLUMES", volumes.join(","));
        }
        let mut child = cmd.spawn().context("starting stratus serve")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let addr = line[at + "listening on ".len()..].split_whitespace().next().unwrap_or("");
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(30)).context("the server did not start")?;
        Ok(Self { child, base, _dir: dir })
    }

    /// Peak resident memory of the server so far, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.child.id())
    }
}

/// Peak resident memory of a process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Registers and logs in the benchmark user: its bearer `Authorization` value and root id.
async fn register(client: &Client, api: &str) -> anyhow::Result<(String, String)> {
    let post = |path: &str, body: Value| client.post(format!("{api}{path}")).json(&body).send();
    let r = post(
        "/auth/register",
        json!({"username": "bench", "email": "bench@example.com", "password": "benchmark pw"}),
    )
    .await?;
    anyhow::ensure!(r.status() == StatusCode::CREATED, "register: {}", r.text().await?);
    let login: Value =
        post("/auth/login", json!({"login": "bench", "password": "benchmark pw"})).await?.json().await?;
    let token = login["token"].as_str().context("no token")?;
    let root = login["user"]["root_id"].as_str().context("no root")?;
    Ok((format!("Bearer {token}"), root.to_string()))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fast, deterministic, incompressible bytes (xorshift).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// MB/s of SHA-256 (the address) and of BLAKE3 (the check a download verifies) on one core.
fn hash_ceilings() -> (f64, f64) {
    let data = random_bytes(256 * MIB, 99);
    let rate = |hash: &dyn Fn(&[u8])| {
        let start = Instant::now();
        for chunk in data.chunks(4 * MIB) {
            hash(chunk);
        }
        data.len() as f64 / MB / start.elapsed().as_secs_f64()
    };
    let sha = rate(&|c| {
        std::hint::black_box(sha2::Sha256::digest(c));
    });
    let blake = rate(&|c| {
        std::hint::black_box(blake3::hash(c));
    });
    (sha, blake)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (sha, blake) = hash_ceilings();
    println!("machine: {cores} cores; one core hashes SHA-256 at {sha:.0} MB/s, BLAKE3 at {blake:.0} MB/s");

    if args.peers {
        return peers::run(&args).await;
    }
    let server = Server::start(&args)?;
    let api = format!("{}/api/v1", server.base);
    let client = Client::new();
    let (auth, root) = register(&client, &api).await?;

    // 1. One large file, single stream, up and down.
    let large = Bytes::from(random_bytes(args.large_mib * MIB, 1));
    let start = Instant::now();
    let r = client
        .put(format!("{api}/nodes/{root}/files/large.bin"))
        .header("authorization", &auth)
        .body(large.clone())
        .send()
        .await?;
    let up = start.elapsed();
    anyhow::ensure!(r.status() == StatusCode::CREATED, "upload: {}", r.text().await?);
    let node: Value = r.json().await?;
    let rss_after_upload = server.peak_rss_mib();
    drop(large);
    let id = node["id"].as_str().context("no id")?;
    let start = Instant::now();
    let r = client.get(format!("{api}/nodes/{id}/content")).header("authorization", &auth).send().await?;
    let mut body = r.bytes_stream();
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        received += chunk?.len();
    }
    let down = start.elapsed();
    anyhow::ensure!(received == args.large_mib * MIB, "downloaded {received} bytes");
    let bytes = (args.large_mib * MIB) as f64;
    println!(
        "upload   {} MiB single stream: {:>7.0} MB/s ({:.2} s); peak RSS so far {:.0} MiB",
        args.large_mib,
        bytes / MB / up.as_secs_f64(),
        up.as_secs_f64(),
        rss_after_upload
    );
    println!(
        "download {} MiB single stream: {:>7.0} MB/s ({:.2} s)",
        args.large_mib,
        bytes / MB / down.as_secs_f64(),
        down.as_secs_f64()
    );

    // 2. Many small files.
    let small: Vec<Bytes> =
        (0..args.small_files).map(|i| Bytes::from(random_bytes(4096, 1000 + i as u64))).collect();
    let folder: Value = post_auth(
        &client,
        &api,
        &auth,
        &format!("/nodes/{root}/children"),
        json!({"name": "small", "kind": "folder"}),
    )
    .await?;
    let folder = folder["id"].as_str().context("no folder id")?.to_string();
    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = stream::iter(small.into_iter().enumerate())
        .map(|(i, body)| {
            let (client, api, auth, folder) = (&client, &api, &auth, &folder);
            async move {
                let r = client
                    .put(format!("{api}/nodes/{folder}/files/f{i}.bin"))
                    .header("authorization", auth)
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == StatusCode::CREATED, "small upload: {}", r.status());
                Ok(())
            }
        })
        .buffer_unordered(args.small_concurrency)
        .collect()
        .await;
    let small_time = start.elapsed();
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    println!(
        "small    {} × 4 KiB, {} connections: {:>7.0} files/s ({:.2} s)",
        args.small_files,
        args.small_concurrency,
        args.small_files as f64 / small_time.as_secs_f64(),
        small_time.as_secs_f64()
    );

    // 3. Listing a large folder.
    let many: Value = post_auth(
        &client,
        &api,
        &auth,
        &format!("/nodes/{root}/children"),
        json!({"name": "many", "kind": "folder"}),
    )
    .await?;
    let many = many["id"].as_str().context("no folder id")?.to_string();
    let results: Vec<anyhow::Result<Value>> = stream::iter(0..args.entries)
        .map(|i| {
            let (client, api, auth, many) = (&client, &api, &auth, &many);
            async move {
                post_auth(
                    client,
                    api,
                    auth,
                    &format!("/nodes/{many}/children"),
                    json!({"name": format!("entry {i:05}"), "kind": "folder"}),
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<Value>>>()?;
    let mut full = Vec::new();
    let mut first_page = Vec::new();
    for _ in 0..11 {
        let start = Instant::now();
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        loop {
            let mut url = format!("{api}/nodes/{many}/children?limit=1000");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Page = client.get(url).header("authorization", &auth).send().await?.json().await?;
            seen += page.items.len();
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        full.push(start.elapsed());
        anyhow::ensure!(seen == args.entries, "listed {seen} entries");
        let start = Instant::now();
        client
            .get(format!("{api}/nodes/{many}/children?limit=100"))
            .header("authorization", &auth)
            .send()
            .await?
            .bytes()
            .await?;
        first_page.push(start.elapsed());
    }
    full.sort();
    first_page.sort();
    println!(
        "listing  {} entries (pages of 1000), median of 11: {:>6.1} ms (best {:.1}); one page of 100: {:.1} ms",
        args.entries,
        full[5].as_secs_f64() * 1000.0,
        full[0].as_secs_f64() * 1000.0,
        first_page[5].as_secs_f64() * 1000.0
    );
    tokio::task::block_in_place(|| scrub_figures(&server, &args))?;
    if !args.no_cli {
        tokio::task::block_in_place(|| cli_figures(&server, &api, &auth, args.large_mib))?;
    }
    println!("peak RSS of the server over the whole run: {:.0} MiB", server.peak_rss_mib());
    Ok(())
}

/// The scrub job, unthrottled, over every copy of every block stored so far.
fn scrub_figures(server: &Server, args: &Args) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("stratus");
    let mut cmd = Command::new(binary);
    cmd.args(["admin", "run-job", "scrub"])
        .env("STRATUS_DATA_DIR", server._dir.path())
        .env("STRATUS_SCRUB_RATE", "0");
    if let Some(url) = &args.database_url {
        cmd.env("STRATUS_DATABASE_URL", url);
    }
    let bytes = block_bytes(server._dir.path());
    let start = Instant::now();
    let out = cmd.output()?;
    let took = start.elapsed();
    anyhow::ensure!(out.status.success(), "scrub: {}", String::from_utf8_lossy(&out.stderr));
    println!(
        "scrub    {:.0} MiB of block copies: {:>7.0} MB/s ({:.2} s)",
        bytes as f64 / MIB as f64,
        bytes as f64 / MB / took.as_secs_f64(),
        took.as_secs_f64()
    );
    Ok(())
}

/// Bytes of the block files under `dir` (every volume, every copy).
fn block_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += block_bytes(&path);
        } else if path.file_name().is_some_and(|n| n.len() == 64) {
            total += entry.metadata().map_or(0, |m| m.len());
        }
    }
    total
}

/// The command-line client against curl, and a re-upload of an unchanged file.
fn cli_figures(server: &Server, api: &str, auth: &str, mib: usize) -> anyhow::Result<()> {
    let cli = std::env::current_exe()?.with_file_name("stratus-cli");
    if !cli.exists() {
        println!("cli      skipped: {} is missing (cargo build --release --workspace --bins)", cli.display());
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("large.bin");
    std::fs::write(&file, random_bytes(mib * MIB, 7))?;
    let config = dir.path().join("cli.json");
    let run = |args: &[&str]| -> anyhow::Result<(std::time::Duration, String)> {
        let start = Instant::now();
        let out = Command::new(&cli)
            .args(args)
            .env("STRATUS_CLI_CONFIG", &config)
            .env("STRATUS_PASSWORD", "benchmark pw")
            .stderr(Stdio::null())
            .output()?;
        anyhow::ensure!(out.status.success(), "stratus-cli {args:?} failed");
        Ok((start.elapsed(), String::from_utf8_lossy(&out.stdout).to_string()))
    };
    run(&["login", &server.base, "bench"])?;
    let path = file.to_str().context("a UTF-8 temp path")?;
    let (first, _) = run(&["--json", "put", path, "/cli"])?;
    let (again, report) = run(&["--json", "put", path, "/cli"])?;
    let sent = serde_json::from_str::<Value>(&report)?["block_bytes_sent"].as_u64().unwrap_or(u64::MAX);
    let bytes = (mib * MIB) as f64;
    println!(
        "cli put  {mib} MiB (hash + upload + commit): {:>7.0} MB/s ({:.2} s)",
        bytes / MB / first.as_secs_f64(),
        first.as_secs_f64()
    );
    println!("cli put  the same {mib} MiB again: {:.2} s, {sent} bytes of blocks sent", again.as_secs_f64());
    // Other bytes than the CLI's, so that no block dedups and curl's figure is a real upload.
    let other = dir.path().join("other.bin");
    std::fs::write(&other, random_bytes(mib * MIB, 8))?;
    let other = other.to_str().context("a UTF-8 temp path")?;
    let start = Instant::now();
    let status = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("authorization: {auth}"),
            "-T",
            other,
        ])
        .arg(format!("{api}/nodes/{}/files/curl.bin", server_root(api, auth)?))
        .output();
    match status {
        Ok(out) if out.status.success() => {
            let took = start.elapsed();
            let code = String::from_utf8_lossy(&out.stdout).to_string();
            anyhow::ensure!(code == "201", "curl's upload answered {code}");
            println!(
                "curl -T  {mib} MiB: {:>7.0} MB/s ({:.2} s)",
                bytes / MB / took.as_secs_f64(),
                took.as_secs_f64()
            );
        }
        _ => println!("curl     skipped: curl is not installed"),
    }
    Ok(())
}

/// The benchmark user's root folder id (a blocking request: called outside the async flow).
fn server_root(api: &str, auth: &str) -> anyhow::Result<String> {
    let out = Command::new("curl")
        .args(["-sS", "-H", &format!("authorization: {auth}"), &format!("{api}/me")])
        .output()?;
    let me: Value = serde_json::from_slice(&out.stdout)?;
    me["root_id"].as_str().map(str::to_string).context("no root_id")
}

/// A listing page as a typed client (the CLI, say) reads it.
#[derive(serde::Deserialize)]
struct Page {
    items: Vec<Entry>,
    next_cursor: Option<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Entry {
    id: String,
    name: String,
    kind: String,
    size: u64,
    modified_at: String,
}

async fn post_auth(client: &Client, api: &str, auth: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let r = client.post(format!("{api}{path}")).header("authorization", auth).json(&body).send().await?;
    anyhow::ensure!(r.status() == StatusCode::CREATED, "{path}: {}", r.status());
    Ok(r.json().await?)
}
