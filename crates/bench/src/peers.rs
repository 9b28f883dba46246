//! `stratus-bench --peers`: the same work, in one run, against nginx's WebDAV (nginx-extras),
//! `rclone serve webdav`, Stratus's REST API and Stratus's WebDAV, in interleaved rounds, with
//! the median of each figure and Stratus's ratio to each peer. Every server gets the same
//! bytes from the same client; `wrk` drives the many-connection GETs.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::{MB, MIB, Server, random_bytes};

/// Where one server keeps a folder: a WebDAV collection's URL, or a Stratus folder id.
#[derive(Clone)]
enum Folder {
    Url(String),
    Id(String),
}

/// One server and the door the client uses.
struct Target {
    name: &'static str,
    /// WebDAV root URL (ending in `/`), or the REST API's base.
    base: String,
    rest_root: Option<String>,
    auth: Option<String>,
    pid: u32,
}

impl Target {
    fn request(&self, client: &Client, method: Method, url: &str) -> reqwest::RequestBuilder {
        let r = client.request(method, url);
        match &self.auth {
            Some(a) => r.header("authorization", a),
            None => r,
        }
    }

    async fn mkdir(&self, client: &Client, name: &str) -> anyhow::Result<Folder> {
        match &self.rest_root {
            Some(root) => {
                let r = self
                    .request(client, Method::POST, &format!("{}/nodes/{root}/children", self.base))
                    .json(&json!({"name": name, "kind": "folder"}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == StatusCode::CREATED, "{}: mkdir {}", self.name, r.status());
                let v: Value = r.json().await?;
                Ok(Folder::Id(v["id"].as_str().context("no id")?.to_string()))
            }
            None => {
                let url = format!("{}{name}/", self.base);
                let r = self.request(client, Method::from_bytes(b"MKCOL")?, &url).send().await?;
                anyhow::ensure!(r.status().is_success(), "{}: MKCOL {}", self.name, r.status());
                Ok(Folder::Url(url))
            }
        }
    }

    /// Uploads a file; returns the URL its bytes are read back from.
    async fn put(&self, client: &Client, folder: &Folder, name: &str, body: Bytes) -> anyhow::Result<String> {
        let url = match folder {
            Folder::Id(id) => format!("{}/nodes/{id}/files/{name}", self.base),
            Folder::Url(url) => format!("{url}{name}"),
        };
        let r = self.request(client, Method::PUT, &url).body(body).send().await?;
        anyhow::ensure!(r.status().is_success(), "{}: PUT {name}: {}", self.name, r.status());
        match folder {
            Folder::Id(_) => {
                let v: Value = r.json().await?;
                Ok(format!("{}/nodes/{}/content", self.base, v["id"].as_str().context("no id")?))
            }
            Folder::Url(_) => Ok(url),
        }
    }

    /// Uploads every file in one multipart request (Stratus's REST API only).
    async fn batch(&self, client: &Client, folder: &Folder, files: Vec<Bytes>) -> anyhow::Result<()> {
        let Folder::Id(id) = folder else { bail!("{}: no batch upload", self.name) };
        let form = files.into_iter().enumerate().fold(reqwest::multipart::Form::new(), |form, (i, body)| {
            form.part(
                "file",
                reqwest::multipart::Part::bytes(body.to_vec()).file_name(format!("f{i:05}.bin")),
            )
        });
        let url = format!("{}/nodes/{id}/files", self.base);
        let r = self.request(client, Method::POST, &url).multipart(form).send().await?;
        anyhow::ensure!(r.status() == StatusCode::CREATED, "{}: batch {}", self.name, r.status());
        Ok(())
    }

    /// Reads every entry of a folder: REST pages of 1,000, or one PROPFIND Depth 1.
    async fn list(&self, client: &Client, folder: &Folder, expected: usize) -> anyhow::Result<()> {
        match folder {
            Folder::Id(id) => {
                let (mut seen, mut cursor) = (0, None::<String>);
                loop {
                    let mut url = format!("{}/nodes/{id}/children?limit=1000", self.base);
                    if let Some(c) = &cursor {
                        url.push_str(&format!("&cursor={c}"));
                    }
                    let page: Value = self.request(client, Method::GET, &url).send().await?.json().await?;
                    seen += page["items"].as_array().map_or(0, Vec::len);
                    match page["next_cursor"].as_str() {
                        Some(c) => cursor = Some(c.to_string()),
                        None => break,
                    }
                }
                anyhow::ensure!(seen == expected, "{}: listed {seen} of {expected}", self.name);
            }
            Folder::Url(url) => {
                let r = self
                    .request(client, Method::from_bytes(b"PROPFIND")?, url)
                    .header("depth", "1")
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 207, "{}: PROPFIND {}", self.name, r.status());
                let body = r.text().await?;
                // Each entry and the folder itself are one <D:response> (any prefix).
                let seen = body.matches(":response>").count() / 2;
                anyhow::ensure!(seen == expected + 1, "{}: listed {seen} of {}", self.name, expected + 1);
            }
        }
        Ok(())
    }

    /// The peak resident memory since the last call, in MiB; then starts a new peak
    /// (Linux: writing 5 to `clear_refs` resets `VmHWM` to the current RSS).
    fn phase_peak_mib(&self) -> f64 {
        let peak = crate::peak_rss_mib(self.pid);
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
        peak
    }
}

/// The phases of a round, by which the peak RSS of each server is reported.
const PHASES: [&str; 6] =
    ["1 GiB PUT", "1 GiB GET", "PUTs, 1 conn", "PUTs, 8 conns + listing", "GET, 64 conns", "batch"];

/// A peer server process, stopped when dropped.
struct Peer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_until_up(client: &Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if client.request(Method::OPTIONS, url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not come up")
}

/// nginx with its WebDAV modules (Debian's nginx-extras), two workers, no access log.
async fn start_nginx(client: &Client) -> anyhow::Result<(Peer, String)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("root"))?;
    let module = Path::new("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so");
    anyhow::ensure!(module.exists(), "nginx-extras is not installed (apt-get install nginx-extras)");
    let conf = format!(
        "load_module {module}; daemon off; master_process on; worker_processes 2; user root; \
         pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{ access_log off; client_max_body_size 0; client_body_temp_path {d}/body; \
         proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; \
         scgi_temp_path {d}/scgi;\n\
         server {{ listen 127.0.0.1:{port}; root {d}/root; location / {{ \
         dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS; \
         create_full_put_path on; dav_access user:rw; }} }} }}\n",
        module = module.display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf)?;
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx (apt-get install nginx-extras)")?;
    let url = format!("http://127.0.0.1:{port}/");
    wait_until_up(client, &url).await?;
    Ok((Peer { child, _dir: dir }, url))
}

/// `rclone serve webdav` on a local directory, as it runs by default.
async fn start_rclone(client: &Client) -> anyhow::Result<(Peer, String)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let child = Command::new("rclone")
        .args(["serve", "webdav", "--addr", &format!("127.0.0.1:{port}")])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting rclone (apt-get install rclone)")?;
    let url = format!("http://127.0.0.1:{port}/");
    wait_until_up(client, &url).await?;
    Ok((Peer { child, _dir: dir }, url))
}

/// The main process id of a peer: nginx's workers are its children; the master's VmHWM is
/// what is read (each worker's is similar, and small).
fn pid(p: &Peer) -> u32 {
    p.child.id()
}

/// `wrk` for `seconds` on `connections` connections: requests a second and the p99 in ms.
fn wrk(url: &str, auth: Option<&str>, connections: usize, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"]);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = cmd.arg(url).output().context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(!text.contains("Non-2xx"), "wrk saw errors from {url}:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("no Requests/sec in wrk's output")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .and_then(parse_wrk_time)
        .context("no 99% in wrk's output")?;
    Ok((rps, p99))
}

/// `812.00us`, `8.70ms`, `1.02s` → milliseconds.
fn parse_wrk_time(v: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// The rows of the table, in order.
const ROWS: [&str; 9] = [
    "1 GiB PUT, fresh bytes (MB/s)",
    "1 GiB GET (MB/s)",
    "N × 4 KiB PUT, 1 connection (files/s)",
    "N × 4 KiB PUT, 8 connections (files/s)",
    "N × 4 KiB in one multipart POST (files/s)",
    "list the folder of N entries (ms)",
    "GET 4 KiB, 64 connections (req/s)",
    "GET 4 KiB, 64 connections (p99 ms)",
    "peak RSS of the server (MiB)",
];

struct Work {
    large: usize,
    small: usize,
    seconds: u64,
}

/// One round of every workload on one target: one figure per row.
async fn round(client: &Client, t: &Target, w: &Work, round: usize) -> anyhow::Result<[f64; ROWS.len()]> {
    let mut out = [f64::NAN; ROWS.len()];
    // Stratus's two doors share one drive: each target has folders of its own.
    let prefix = t.name.replace(' ', "-");
    let folder = t.mkdir(client, &format!("{prefix}-round{round}")).await?;
    // Other bytes in every round and on every server, so that nothing dedups.
    let seed = 10_000 + round as u64 * 100 + t.name.len() as u64;
    let large = Bytes::from(random_bytes(w.large, seed));
    let mut peaks = vec![t.phase_peak_mib()];
    let start = Instant::now();
    let url = t.put(client, &folder, "large.bin", large).await?;
    out[0] = w.large as f64 / MB / start.elapsed().as_secs_f64();
    peaks.push(t.phase_peak_mib());
    let start = Instant::now();
    let mut body = t.request(client, Method::GET, &url).send().await?.error_for_status()?.bytes_stream();
    let mut got = 0;
    while let Some(chunk) = body.next().await {
        got += chunk?.len();
    }
    anyhow::ensure!(got == w.large, "{}: read {got} of {} bytes", t.name, w.large);
    out[1] = w.large as f64 / MB / start.elapsed().as_secs_f64();
    peaks.push(t.phase_peak_mib());

    let mut small_url = String::new();
    for (row, connections) in [(2, 1), (3, 8)] {
        let dir = t.mkdir(client, &format!("{prefix}-round{round}-small{connections}")).await?;
        let files: Vec<Bytes> = (0..w.small)
            .map(|i| Bytes::from(random_bytes(4096, seed * 100_000 + (row * w.small + i) as u64)))
            .collect();
        let start = Instant::now();
        let urls: Vec<anyhow::Result<String>> = stream::iter(files.into_iter().enumerate())
            .map(|(i, body)| {
                let dir = &dir;
                async move { t.put(client, dir, &format!("f{i:05}.bin"), body).await }
            })
            .buffer_unordered(connections)
            .collect()
            .await;
        out[row] = w.small as f64 / start.elapsed().as_secs_f64();
        let urls = urls.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(u) = urls.into_iter().next() {
            small_url = u;
        }
        if connections == 8 {
            // The folder of the 8-connection round has N entries: list it.
            let mut times = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                t.list(client, &dir, w.small).await?;
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            out[5] = median(&mut times);
        }
        peaks.push(t.phase_peak_mib());
    }
    let (rps, p99) = tokio::task::block_in_place(|| wrk(&small_url, t.auth.as_deref(), 64, w.seconds))?;
    (out[6], out[7]) = (rps, p99);
    peaks.push(t.phase_peak_mib());
    if t.rest_root.is_some() {
        let dir = t.mkdir(client, &format!("{prefix}-round{round}-batch")).await?;
        let files: Vec<Bytes> = (0..w.small)
            .map(|i| Bytes::from(random_bytes(4096, seed * 100_000 + (5 * w.small + i) as u64)))
            .collect();
        let start = Instant::now();
        t.batch(client, &dir, files).await?;
        out[4] = w.small as f64 / start.elapsed().as_secs_f64();
        peaks.push(t.phase_peak_mib());
    }
    // peaks[0] is what the process held before the round (the previous target's last phase
    // when two targets share a server); each phase's own peak follows.
    let by_phase: Vec<String> = PHASES.iter().zip(&peaks[1..]).map(|(p, m)| format!("{p} {m:.0}")).collect();
    eprintln!("peak RSS by phase, {} (MiB): {}", t.name, by_phase.join(", "));
    out[8] = peaks.into_iter().fold(f64::NAN, f64::max);
    Ok(out)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the side-by-side comparison and prints its table.
pub async fn run(args: &crate::Args) -> anyhow::Result<()> {
    let client = Client::new();
    let (nginx, nginx_url) = start_nginx(&client).await?;
    let (rclone, rclone_url) = start_rclone(&client).await?;
    let server = Server::start(args)?;
    let api = format!("{}/api/v1", server.base);
    let (auth, root) = crate::register(&client, &api).await?;
    let r = client
        .post(format!("{api}/me/tokens"))
        .header("authorization", &auth)
        .json(&json!({"name": "bench"}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == StatusCode::CREATED, "app token: {}", r.status());
    let token: Value = r.json().await?;
    let basic = basic("bench", token["token"].as_str().context("no token")?);
    let stratus_pid = server.child.id();
    let targets = [
        Target { name: "nginx dav", base: nginx_url, rest_root: None, auth: None, pid: pid(&nginx) },
        Target { name: "rclone webdav", base: rclone_url, rest_root: None, auth: None, pid: pid(&rclone) },
        Target {
            name: "Stratus REST",
            base: api.clone(),
            rest_root: Some(root),
            auth: Some(auth),
            pid: stratus_pid,
        },
        Target {
            name: "Stratus WebDAV",
            base: format!("{}/dav/", server.base),
            rest_root: None,
            auth: Some(basic),
            pid: stratus_pid,
        },
    ];
    let work = Work { large: args.large_mib * MIB, small: args.small_files, seconds: args.wrk_seconds };
    let mut figures = vec![vec![Vec::new(); ROWS.len()]; targets.len()];
    for r in 0..args.rounds {
        for (t, target) in targets.iter().enumerate() {
            let got = round(&client, target, &work, r).await.with_context(|| target.name)?;
            eprintln!("round {} {}: {got:.1?}", r + 1, target.name);
            for (row, v) in got.into_iter().enumerate() {
                figures[t][row].push(v);
            }
        }
    }
    let medians: Vec<Vec<f64>> =
        figures.iter_mut().map(|rows| rows.iter_mut().map(|v| median(v)).collect()).collect();
    println!(
        "\nmedians of {} interleaved rounds; N = {}, 1 GiB = {} MiB; database: {}\n",
        args.rounds,
        args.small_files,
        args.large_mib,
        args.database_url.as_deref().map_or("SQLite", |u| if u.starts_with("postgres") {
            "PostgreSQL"
        } else {
            u
        })
    );
    println!(
        "| work | {} | REST ÷ nginx | REST ÷ rclone | WebDAV ÷ rclone |",
        targets.iter().map(|t| t.name).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}---:|---:|---:|", "---:|".repeat(targets.len()));
    for (row, label) in ROWS.iter().enumerate() {
        let cells: Vec<String> = medians.iter().map(|m| format!("{:.1}", m[row])).collect();
        let ratio = |a: usize, b: usize| medians[a][row] / medians[b][row];
        println!(
            "| {label} | {} | {:.2} | {:.2} | {:.2} |",
            cells.join(" | "),
            ratio(2, 0),
            ratio(2, 1),
            ratio(3, 1)
        );
    }
    println!("\none multipart POST of N files ÷ nginx's 8 connections: {:.2}", medians[2][4] / medians[0][3]);
    drop((nginx, rclone));
    Ok(())
}

/// The `Authorization` value of Basic auth.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}
