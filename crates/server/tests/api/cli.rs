//! The command-line client, run as a user runs it, against the real server.

use std::process::{Command, Output, Stdio};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// The `stratus-cli` binary, built by `cargo test --workspace` next to this test binary.
fn cli_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("stratus-cli");
    assert!(path.exists(), "{} is missing: run the suite with `cargo test --workspace`", path.display());
    path
}

struct Cli {
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    async fn login(app: &TestApp, user: &TestUser, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cli = Self { config: dir.path().join("cli.json"), _dir: dir };
        let out = cli.run_env(&["login", &app.base, name], &[("STRATUS_PASSWORD", &user.password)]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cli
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(cli_binary());
        cmd.args(args).env("STRATUS_CLI_CONFIG", &self.config).stdin(Stdio::null());
        cmd
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[]).await
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all).await).unwrap()
    }
}

async fn block_bytes(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines().find_map(|l| l.strip_prefix("stratus_block_bytes_received_total ")).unwrap().parse().unwrap()
}

dual_test!(async fn the_cli_does_the_everyday_things(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("clier").await;
    app.register("friend").await;
    let cli = Cli::login(&app, &u, "clier").await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cli.config).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("Project");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(tree.join("README.md"), b"# hello").unwrap();
    std::fs::write(tree.join("src/big.bin"), data(9 << 20, 81)).unwrap();

    assert!(cli.ok(&["put", tree.to_str().unwrap(), "/"]).await.starts_with("sent 2 files"));
    let listing = cli.json(&["ls", "/Project"]).await;
    let names: Vec<&str> = listing.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["src", "README.md"]);
    assert_eq!(cli.json(&["tree", "/Project"]).await, serde_json::json!(["README.md", "src/big.bin"]));
    let back = dir.path().join("back");
    cli.ok(&["get", "/Project", back.to_str().unwrap()]).await;
    assert_eq!(std::fs::read(back.join("src/big.bin")).unwrap(), data(9 << 20, 81));

    // A download cut short leaves a .part: the next get fetches only the rest.
    let again = dir.path().join("again.bin");
    std::fs::write(dir.path().join("again.bin.part"), &data(9 << 20, 81)[..3_000_000]).unwrap();
    let got = cli.json(&["get", "/Project/src/big.bin", again.to_str().unwrap()]).await;
    assert_eq!(got["bytes_received"].as_u64(), Some((9 << 20) - 3_000_000));
    assert_eq!(std::fs::read(&again).unwrap(), data(9 << 20, 81));

    cli.ok(&["mkdir", "/Archive/2026"]).await;
    cli.ok(&["mv", "/Project/README.md", "/Archive/2026"]).await;
    cli.ok(&["cp", "/Archive/2026/README.md", "/Archive/copy.md"]).await;
    cli.ok(&["rm", "/Archive/copy.md"]).await;
    let trash = cli.json(&["trash", "ls"]).await;
    let id = trash[0]["id"].as_str().unwrap().to_string();
    cli.ok(&["trash", "restore", &id]).await;
    assert_eq!(app.names(&u, &app.by_path(&u, "/Archive").await).await, ["2026", "copy.md"]);
    std::fs::write(tree.join("README.md"), b"# hello again").unwrap();
    cli.ok(&["put", tree.join("README.md").to_str().unwrap(), "/Archive/2026"]).await;
    assert_eq!(cli.json(&["versions", "/Archive/2026/README.md"]).await.as_array().unwrap().len(), 2);
    assert!(cli.ok(&["share", "/Archive", "friend", "--role", "editor"]).await.contains("as editor"));
    assert!(cli.ok(&["link", "/Archive", "--max-downloads", "3"]).await.contains("/s/"));
    let quota = cli.json(&["quota"]).await;
    assert_eq!(quota["used"].as_u64(), Some(app.used(&u).await));

    // Errors: one clear line, a non-zero exit.
    let out = cli.run(&["get", "/nope", dir.path().join("x").to_str().unwrap()]).await;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: /nope: no such file or folder"), "{err}");
    let out = cli.run(&["mkdir", "/Archive/2026/README.md/x"]).await;
    assert!(String::from_utf8(out.stderr).unwrap().contains("not a folder"));
    cli.ok(&["logout"]).await;
    let out = cli.run(&["ls"]).await;
    assert!(String::from_utf8(out.stderr).unwrap().contains("not logged in"));
});

dual_test!(async fn a_killed_cli_upload_resumes_sending_only_what_is_missing(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("resumer").await;
    let cli = Cli::login(&app, &u, "resumer").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    let bytes = data(200 << 20, 82);
    std::fs::write(&file, &bytes).unwrap();
    let before = block_bytes(&app).await;

    let mut child = cli.command(&["put", file.to_str().unwrap(), "/"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    eventually("40 MiB of blocks arrived", || async { block_bytes(&app).await - before >= 40 << 20 }).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(app.names(&u, &u.root).await.is_empty(), "nothing visible before the commit");
    // The session the killed run left, as the rerun will find it: what the server still lacks.
    let states = cli.config.with_file_name("uploads");
    let entry = std::fs::read_dir(&states).unwrap().next().unwrap().unwrap();
    let upload_id = std::fs::read_to_string(entry.path()).unwrap();
    let state = ok_json(app.req(Method::GET, &format!("/api/v1/uploads/{}", upload_id.trim()), &u).send().await.unwrap()).await;
    let missing = state["missing"].as_array().unwrap().len() as u64;
    assert!(missing > 0 && missing < 50, "part of it was kept: {missing} of 50 blocks missing");

    let at_rerun = block_bytes(&app).await;
    let out = cli.json(&["put", file.to_str().unwrap(), "/"]).await;
    let rerun = block_bytes(&app).await - at_rerun;
    let sent = out["block_bytes_sent"].as_u64().unwrap();
    assert!(sent > 0 && sent <= missing * (4 << 20), "only missing blocks: {sent} bytes for {missing} blocks");
    // Everything the rerun sent was received. A block the killed run still had in flight (the
    // kernel may hold its whole body) can land after `at_rerun`: at most one per parallel slot.
    assert!(rerun >= sent, "the server received what the client sent: {rerun} < {sent}");
    let late = rerun - sent;
    assert!(late % (4 << 20) == 0 && late <= 4 * (4 << 20), "only the killed run's in-flight blocks landed late: {late}");
    assert!(block_bytes(&app).await - before >= 200 << 20);
    let node = app.by_path(&u, "/disk.img").await;
    assert_eq!(app.download(&u, &node).await, bytes);
    // Sending it again sends nothing.
    let again = cli.json(&["put", file.to_str().unwrap(), "/"]).await;
    assert_eq!(again["block_bytes_sent"].as_u64(), Some(0));
});

dual_test!(async fn sync_mirrors_and_sends_only_what_changed(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("syncer").await;
    let cli = Cli::login(&app, &u, "syncer").await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("photos");
    std::fs::create_dir_all(local.join("2025")).unwrap();
    for i in 0..12 {
        std::fs::write(local.join(format!("2025/p{i}.jpg")), data(100_000 + i * 1000, 90 + i as u64)).unwrap();
    }
    std::fs::write(local.join("big.raw"), data(9 << 20, 99)).unwrap();
    let l = local.to_str().unwrap();

    let first = cli.json(&["sync", "push", l, "/Photos"]).await;
    assert_eq!(first["files_sent"].as_u64(), Some(13));
    let sent = block_bytes(&app).await;
    let second = cli.json(&["sync", "push", l, "/Photos"]).await;
    assert_eq!((second["files_sent"].as_u64(), second["files_skipped"].as_u64()), (Some(0), Some(13)));
    assert_eq!(block_bytes(&app).await, sent, "the second run sends nothing");

    // One changed byte in the big file: only its block crosses. A dry run changes nothing.
    let mut big = data(9 << 20, 99);
    big[5 << 20] ^= 1;
    std::fs::write(local.join("big.raw"), &big).unwrap();
    std::fs::remove_file(local.join("2025/p0.jpg")).unwrap();
    let plan = cli.ok(&["sync", "push", l, "/Photos", "--delete", "--dry-run"]).await;
    assert_eq!(plan.trim(), "upload big.raw\ndelete 2025/p0.jpg");
    assert_eq!(block_bytes(&app).await, sent);
    let third = cli.json(&["sync", "push", l, "/Photos", "--delete"]).await;
    assert_eq!((third["files_sent"].as_u64(), third["deleted"].as_u64()), (Some(1), Some(1)));
    assert_eq!(block_bytes(&app).await - sent, 4 << 20, "one 4 MiB block");

    // Pull into an empty folder reproduces the tree; pulling again receives nothing.
    let copy = dir.path().join("copy");
    let pulled = cli.json(&["sync", "pull", copy.to_str().unwrap(), "/Photos"]).await;
    assert_eq!(pulled["files_received"].as_u64(), Some(12));
    assert_eq!(std::fs::read(copy.join("big.raw")).unwrap(), big);
    assert!(!copy.join("2025/p0.jpg").exists());
    let again = cli.json(&["sync", "pull", copy.to_str().unwrap(), "/Photos"]).await;
    assert_eq!(again["files_received"].as_u64(), Some(0));
});
