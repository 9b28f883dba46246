//! File content: the content hash, uploads (multipart, raw, conflicts, quota, cut-offs),
//! downloads (Range, ETag), integrity, dedup and versions.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const MIB: usize = 1 << 20;

/// Dropbox's content hash, computed by Python's hashlib: an implementation nobody here wrote.
fn python_content_hash(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let script = "import hashlib,sys\n\
        d=open(sys.argv[1],'rb').read()\n\
        B=4*1024*1024\n\
        print(hashlib.sha256(b''.join(hashlib.sha256(d[i:i+B]).digest() for i in range(0,len(d),B))).hexdigest())";
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(out.status.success(), "python3 is needed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

dual_test!(async fn content_hashes_match_an_independent_implementation(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("hasher").await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("abc", b"abc".to_vec()),
        ("4MiB", data(4 * MIB, 1)),
        ("4MiB+1", data(4 * MIB + 1, 2)),
        ("8MiB", data(8 * MIB, 3)),
    ];
    for (name, bytes) in cases {
        let expected = python_content_hash(&bytes);
        let node = app.upload(&u, &u.root, name, bytes.clone()).await;
        assert_eq!(node["content_hash"].as_str(), Some(expected.as_str()), "{name}");
        assert_eq!(node["size"].as_u64(), Some(bytes.len() as u64));
        let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", node["id"].as_str().unwrap()), &u).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["etag"].to_str().unwrap(), format!("\"{expected}\""));
        assert_eq!(r.bytes().await.unwrap().to_vec(), bytes, "{name}");
    }
});

dual_test!(async fn multipart_uploads_one_or_many_files_and_folders(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("former").await;
    let part = |name: &str, body: &[u8]| reqwest::multipart::Part::bytes(body.to_vec()).file_name(name.to_string());
    let url = format!("/api/v1/nodes/{}/files", u.root);

    let form = reqwest::multipart::Form::new().part("file", part("photo.jpg", b"jpeg bytes"));
    let r = app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let one: Value = r.json().await.unwrap();
    assert_eq!((one["name"].as_str(), one["size"].as_u64()), (Some("photo.jpg"), Some(10)));

    // A folder upload: many files with relative paths; other fields are ignored.
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part("file", part("album/2024/a.txt", b"A"))
        .part("file", part("album/2024/b.txt", b"BB"))
        .part("file", part("album/c.txt", &data(5 * MIB, 4)));
    let r = app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let many: Value = r.json().await.unwrap();
    assert_eq!(many["items"].as_array().unwrap().len(), 3);
    let b = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/album/2024/b.txt", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, b["id"].as_str().unwrap()).await, b"BB");
    let c = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/album/c.txt", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, c["id"].as_str().unwrap()).await, data(5 * MIB, 4));

    // Conflicts follow the policy; bad forms are refused.
    let form = reqwest::multipart::Form::new().part("file", part("photo.jpg", b"other"));
    let r = app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT, "name_conflict").await;
    let form = reqwest::multipart::Form::new().part("file", part("photo.jpg", b"other"));
    let r = app.req(Method::POST, &format!("{url}?on_conflict=keep_both"), &u).multipart(form).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "photo (1).jpg");
    let form = reqwest::multipart::Form::new().text("note", "no file");
    assert_problem(app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap(), StatusCode::BAD_REQUEST, "missing_file").await;
    let r = app.req(Method::POST, &url, &u).header("content-type", "multipart/form-data; boundary=x").body("garbage").send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_multipart").await;
    let form = reqwest::multipart::Form::new().part("file", part("../escape.txt", b"x"));
    assert_problem(app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;
    let r = app.req(Method::POST, &format!("{url}?on_conflict=sometimes"), &u).multipart(reqwest::multipart::Form::new()).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "invalid_query").await;
});

dual_test!(async fn a_batch_of_files_commits_together_or_not_at_all(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 40 * MIB as u64).await;
    let u = app.register("batcher").await;
    let url = format!("/api/v1/nodes/{}/files", u.root);
    let in_root = format!("SELECT COUNT(*) FROM nodes WHERE parent_id = '{}' AND trashed_at IS NULL", u.root);
    let part = |name: &str, body: Vec<u8>| reqwest::multipart::Part::bytes(body).file_name(name.to_string());
    let names: Vec<String> = (0..2000).map(|i| format!("f{i:04}.txt")).collect();
    let mut form = reqwest::multipart::Form::new();
    for (i, name) in names.iter().enumerate() {
        form = form.part("file", part(name, data(1024, i as u64)));
    }
    form = form.part("file", part("deep/x/y.txt", b"deep".to_vec())).part("file", part("big.bin", data(5 * MIB, 9)));
    let r = app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let items: Value = r.json().await.unwrap();
    let items = items["items"].as_array().unwrap();
    let sent: Vec<&str> = items.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(sent.len(), 2002);
    assert_eq!((sent[0], sent[1999], sent[2000], sent[2001]), ("f0000.txt", "f1999.txt", "y.txt", "big.bin"));
    for i in [0usize, 777, 1999] {
        assert_eq!(app.download(&u, items[i]["id"].as_str().unwrap()).await, data(1024, i as u64));
    }
    assert_eq!(app.download(&u, items[2001]["id"].as_str().unwrap()).await, data(5 * MIB, 9));
    assert_eq!(items[3]["content_hash"], python_content_hash(&data(1024, 3)));
    let used = (2000 * 1024 + 4 + 5 * MIB) as u64;
    assert_eq!(app.used(&u).await, used);
    assert_eq!(app.sql_i64(&in_root).await, 2002);

    // One name taken under `fail`: none of the batch lands, not even its new folder.
    let form = (0..10)
        .fold(reqwest::multipart::Form::new(), |f, i| f.part("file", part(&format!("new{i}.txt"), b"n".to_vec())))
        .part("file", part("newdir/inner.txt", b"i".to_vec()))
        .part("file", part("f0005.txt", b"clash".to_vec()));
    assert_problem(app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap(), StatusCode::CONFLICT, "name_conflict").await;
    assert_eq!(app.sql_i64(&in_root).await, 2002);
    assert_eq!(app.used(&u).await, used);

    // Under keep_both, two files of one name in one batch both land.
    let form = reqwest::multipart::Form::new().part("file", part("same.txt", b"1".to_vec())).part("file", part("same.txt", b"2".to_vec()));
    let r = app.req(Method::POST, &format!("{url}?on_conflict=keep_both"), &u).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let both: Value = r.json().await.unwrap();
    let both: Vec<&str> = both["items"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(both, ["same.txt", "same (1).txt"]);
    // The same through a folder path (committed one by one), and blocks shared within a batch.
    let form = (0..4).fold(reqwest::multipart::Form::new(), |f, _| f.part("file", part("d/x.bin", data(BLOCKED, 70))));
    let r = app.req(Method::POST, &format!("{url}?on_conflict=keep_both"), &u).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let four: Value = r.json().await.unwrap();
    let four: Vec<&str> = four["items"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(four, ["x.bin", "x (1).bin", "x (2).bin", "x (3).bin"]);
    let d = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/d/x (2).bin", &u).send().await.unwrap()).await;
    assert_eq!(app.download(&u, d["id"].as_str().unwrap()).await, data(BLOCKED, 70));
    assert_eq!(app.sql_i64("SELECT MAX(refcount) FROM blocks").await, 4, "one block, counted once per file");
    let used = used + 4 * BLOCKED as u64;
    let used = used + 2;

    // Past the quota: refused whole, and what it reserved is given back.
    let left = 100_000;
    let fill = app.put(&u, &u.root, "fill.bin", data(40 * MIB - used as usize - left, 60), "fail").await;
    assert_eq!(fill.status(), StatusCode::CREATED);
    let form = (0..3).fold(reqwest::multipart::Form::new(), |f, i| f.part("file", part(&format!("l{i}.bin"), data(60_000, 50 + i))));
    assert_problem(app.req(Method::POST, &url, &u).multipart(form).send().await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert_eq!(app.sql_i64(&in_root).await, 2006);
    assert_eq!(app.used(&u).await, 40 * MIB as u64 - left as u64);
    let r = app.put(&u, &u.root, "fits.bin", data(left, 61), "fail").await;
    assert_eq!(r.status(), StatusCode::CREATED, "the whole rest of the quota is usable");

});

dual_test!(async fn uploads_finishing_together_share_a_commit_and_keep_their_own_answers(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("grouped").await;
    let counter = |metrics: &str, name: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    // Forty small uploads at once, round after round until some of them shared a
    // transaction (the counters say so); every one lands, with its own bytes.
    let (mut shared, mut landed) = (false, 0);
    for round in 0..5u64 {
        let before = app.metrics().await;
        let names: Vec<String> = (0..40).map(|i| format!("r{round}-{i}.txt")).collect();
        let uploads = names.iter().zip(0..).map(|(n, i)| app.put(&u, &u.root, n, data(4096, round * 100 + i), "fail"));
        let answers = futures_util::future::join_all(uploads).await;
        for (r, i) in answers.into_iter().zip(0..) {
            assert_eq!(r.status(), StatusCode::CREATED);
            let node: Value = r.json().await.unwrap();
            assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, data(4096, round * 100 + i));
        }
        let after = app.metrics().await;
        let files = counter(&after, "stratus_files_committed_total") - counter(&before, "stratus_files_committed_total");
        let commits = counter(&after, "stratus_upload_commits_total") - counter(&before, "stratus_upload_commits_total");
        assert_eq!(files, 40);
        landed += 40 * 4096;
        assert!((1..=40).contains(&commits), "{commits} commits for 40 files");
        if commits < files {
            shared = true;
            break;
        }
    }
    assert!(shared, "forty simultaneous uploads never shared a commit");
    assert_eq!(app.names(&u, &u.root).await.len() as u64, landed / 4096);

    // A refusal in a group is that upload's alone: of ten racing for one name under `fail`
    // one wins, while ten others racing beside them for names of their own all land.
    let same = (0..10u64).map(|i| app.put(&u, &u.root, "same.txt", data(100, 500 + i), "fail"));
    let own: Vec<String> = (0..10).map(|i| format!("own-{i}.txt")).collect();
    let others = own.iter().map(|n| app.put(&u, &u.root, n, b"mine".to_vec(), "fail"));
    let (same, others) = futures_util::future::join(
        futures_util::future::join_all(same),
        futures_util::future::join_all(others),
    )
    .await;
    let statuses: Vec<StatusCode> = same.iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 9, "{statuses:?}");
    assert!(others.iter().all(|r| r.status() == StatusCode::CREATED));
    let winner = app.by_path(&u, "/same.txt").await;
    let bytes = app.download(&u, &winner).await;
    assert!((0..10).any(|i| bytes == data(100, 500 + i)), "the winner's bytes, whole");
    // Under keep_both they all land, under names of their own.
    let kept = (0..10u64).map(|i| app.put(&u, &u.root, "both.txt", data(10, i), "keep_both"));
    let kept = futures_util::future::join_all(kept).await;
    let mut names = Vec::new();
    for r in kept {
        assert_eq!(r.status(), StatusCode::CREATED);
        names.push(r.json::<Value>().await.unwrap()["name"].as_str().unwrap().to_string());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(app.used(&u).await, landed + 100 + 10 * 4 + 10 * 10, "the quota counts each file once");
});

dual_test!(async fn large_uploads_at_once_keep_their_bytes_whatever_the_shared_block_budget(backend) {
    // With no block allowed in flight, every upload stores each block before it reads more;
    // with one, concurrent uploads take turns holding it. Either way every byte lands, in
    // order, and the content hash is the independent implementation's.
    for budget in [0, 1] {
        let app = TestApp::spawn_with(backend, |c| c.storage.blocks_in_flight = Some(budget)).await;
        let u = app.register("budget").await;
        let files: Vec<Vec<u8>> = (0..4).map(|i| data(2 * 4 * MIB + 12_345 * (i + 1), budget as u64 * 10 + i as u64)).collect();
        let names: Vec<String> = (0..4).map(|i| format!("big-{i}.bin")).collect();
        let answers = futures_util::future::join_all(
            names.iter().zip(&files).map(|(n, f)| app.put(&u, &u.root, n, f.clone(), "fail")),
        )
        .await;
        for (r, f) in answers.into_iter().zip(&files) {
            assert_eq!(r.status(), StatusCode::CREATED, "budget {budget}");
            let node: Value = r.json().await.unwrap();
            assert_eq!(node["content_hash"].as_str().unwrap(), python_content_hash(f));
            assert!(app.download(&u, node["id"].as_str().unwrap()).await == *f, "budget {budget}: bytes differ");
        }
    }
});

dual_test!(async fn conflict_policies_fail_replace_or_keep_both(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("clasher").await;
    let first = app.upload(&u, &u.root, "report.pdf", b"v1".to_vec()).await;
    let id = first["id"].as_str().unwrap();
    assert_problem(app.put(&u, &u.root, "report.pdf", b"v2".to_vec(), "fail").await, StatusCode::CONFLICT, "name_conflict").await;

    let r = app.put(&u, &u.root, "report.pdf", b"version two".to_vec(), "replace").await;
    assert_eq!(r.status(), StatusCode::OK, "a new version, not a new file");
    let replaced: Value = r.json().await.unwrap();
    assert_eq!((replaced["id"].as_str(), replaced["size"].as_u64()), (Some(id), Some(11)));
    assert_eq!(app.download(&u, id).await, b"version two");
    let r = app.req(Method::PUT, &format!("/api/v1/nodes/{id}/content"), &u).body("three").send().await.unwrap();
    assert_eq!(ok_json(r).await["content_hash"], python_content_hash(b"three"));
    let versions = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}/versions"), &u).send().await.unwrap()).await;
    let sizes: Vec<u64> = versions["items"].as_array().unwrap().iter().map(|v| v["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [5, 11, 2], "previous versions are kept, newest first");
    assert_eq!(app.used(&u).await, 5, "the quota counts the current version");

    for expected in ["report (1).pdf", "report (2).pdf"] {
        let r = app.put(&u, &u.root, "report.pdf", b"other".to_vec(), "keep_both").await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<Value>().await.unwrap()["name"], expected);
    }
    // Replacing a folder with a file is a conflict, not a version.
    app.mkdir(&u, &u.root, "dir").await;
    assert_problem(app.put(&u, &u.root, "dir", b"x".to_vec(), "replace").await, StatusCode::CONFLICT, "name_conflict").await;
    let dir = ok_json(app.req(Method::GET, "/api/v1/nodes/by-path?path=/dir", &u).send().await.unwrap()).await;
    let r = app.req(Method::PUT, &format!("/api/v1/nodes/{}/content", dir["id"].as_str().unwrap()), &u).body("x").send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "not_a_file").await;
});

dual_test!(async fn downloads_honour_ranges_and_etags(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("ranger").await;
    let bytes = data(9 * MIB + 123, 5);
    let node = app.upload(&u, &u.root, "movie.mp4", bytes.clone()).await;
    let path = format!("/api/v1/nodes/{}/content", node["id"].as_str().unwrap());
    let etag = format!("\"{}\"", node["content_hash"].as_str().unwrap());
    let get = |headers: &[(&str, &str)]| {
        let mut req = app.req(Method::GET, &path, &u);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let total = bytes.len();
    // Ranges inside a block, across block boundaries, open-ended and suffixes.
    let cases = [(10, 19), (4 * MIB - 5, 4 * MIB + 5), (8 * MIB - 1, total - 1), (0, total - 1)];
    for (start, end) in cases {
        let r = get(&[("range", &format!("bytes={start}-{end}"))]).await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes {start}-{end}/{total}"));
        assert_eq!(r.bytes().await.unwrap().to_vec(), bytes[start..=end]);
    }
    let r = get(&[("range", "bytes=-100")]).await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes[total - 100..]);
    let r = get(&[("range", &format!("bytes={}-", total - 7))]).await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes[total - 7..]);

    let r = get(&[("range", &format!("bytes={total}-"))]).await.unwrap();
    assert_eq!(r.headers()["content-range"].to_str().unwrap(), format!("bytes */{total}"));
    assert_problem(r, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;

    let r = get(&[("if-none-match", &etag)]).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(get(&[("if-none-match", "\"other\"")]).await.unwrap().status(), StatusCode::OK);
    // If-Range with a stale validator sends the whole (changed) file.
    let r = get(&[("range", "bytes=0-9"), ("if-range", "\"stale\"")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().len(), total);
    let r = get(&[("range", "bytes=0-9"), ("if-range", &etag)]).await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    // HEAD tells the length without the body.
    let r = app.req(Method::HEAD, &path, &u).send().await.unwrap();
    assert_eq!(r.headers()["content-length"].to_str().unwrap(), total.to_string());
    // An empty file downloads as empty; any range of it is unsatisfiable.
    let empty = app.upload(&u, &u.root, "empty", vec![]).await;
    assert!(app.download(&u, empty["id"].as_str().unwrap()).await.is_empty());
});

dual_test!(async fn quota_is_enforced_before_and_while_reading_bodies(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 10 * MIB as u64).await;
    let u = app.register("quota").await;
    // Refused from the Content-Length alone, before the body is read: the body never ends.
    let endless = futures_util::stream::once(async { Ok::<_, std::io::Error>(vec![0u8; 1024]) })
        .chain(futures_util::stream::pending());
    let req = app
        .req(Method::PUT, &format!("/api/v1/nodes/{}/files/huge.bin", u.root), &u)
        .header("content-length", (11 * MIB).to_string())
        .body(reqwest::Body::wrap_stream(endless));
    let r = tokio::time::timeout(Duration::from_secs(20), req.send()).await.expect("answered before the body").unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;

    // Streamed (chunked, length unknown) uploads are cut off once they pass the quota.
    let chunks = data(12 * MIB, 8).chunks(MIB).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>();
    let r = app
        .req(Method::PUT, &format!("/api/v1/nodes/{}/files/streamed.bin", u.root), &u)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
    assert_eq!(app.used(&u).await, 0);
    assert!(app.names(&u, &u.root).await.is_empty());

    // Concurrent uploads can never exceed it together. With their lengths declared, each
    // reserves its whole size up front, atomically: exactly two 4 MiB files fit in 10 MiB.
    let names: Vec<String> = (0..6).map(|i| format!("c{i}.bin")).collect();
    let uploads = names.iter().zip(20..).map(|(name, seed)| app.put(&u, &u.root, name, data(4 * MIB, seed), "fail"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(uploads).await.iter().map(|r| r.status()).collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 2, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::PAYLOAD_TOO_LARGE), "{statuses:?}");
    let me = app.me(&u).await;
    assert_eq!(me["quota"]["used"].as_u64(), Some((created * 4 * MIB) as u64));
    assert_eq!(app.names(&u, &u.root).await.len(), created);

    // Small files reserve nothing; their commits check the quota: of 14 × 256 KiB racing for
    // the 2 MiB left, exactly 8 land, and once it is full a small one is refused before its
    // body is read.
    let small: Vec<String> = (0..14).map(|i| format!("s{i}.bin")).collect();
    let uploads = small.iter().zip(40..).map(|(name, seed)| app.put(&u, &u.root, name, data(256 * 1024, seed), "fail"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(uploads).await.iter().map(|r| r.status()).collect();
    let landed = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(landed, 8, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::PAYLOAD_TOO_LARGE), "{statuses:?}");
    assert_eq!(app.used(&u).await, 10 * MIB as u64);
    let endless = futures_util::stream::once(async { Ok::<_, std::io::Error>(vec![0u8; 10]) })
        .chain(futures_util::stream::pending());
    let req = app
        .req(Method::PUT, &format!("/api/v1/nodes/{}/files/tiny.bin", u.root), &u)
        .header("content-length", "100")
        .body(reqwest::Body::wrap_stream(endless));
    let r = tokio::time::timeout(Duration::from_secs(20), req.send()).await.expect("answered before the body").unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded").await;
});

dual_test!(async fn an_upload_cut_off_half_way_leaves_nothing(backend) {
    let app = TestApp::spawn_with(backend, |c| c.default_quota = 12 * MIB as u64).await;
    let u = app.register("cutter").await;
    let declared = 10 * MIB;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/nodes/{}/files/partial.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {declared}\r\n\r\n",
        u.root, u.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data(6 * MIB, 11)).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    drop(stream);

    // The reservation is released: the whole quota is usable again.
    eventually("the cut-off upload's quota is released", || async {
        app.put(&u, &u.root, "full.bin", data(12 * MIB, 12), "fail").await.status() == StatusCode::CREATED
    })
    .await;
    assert_eq!(app.names(&u, &u.root).await, ["full.bin"]);
    assert_eq!(app.used(&u).await, 12 * MIB as u64);
    // Its blocks were written but nothing references them; the GC collects them.
    let (referenced, _) = app.stratus.referenced_blocks().await.unwrap();
    assert_eq!(referenced, 3);
    assert!(app.stratus.stored_block_files().await.unwrap() >= 4);
    app.gc().await;
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), 3);
    let full = app.children(&u, &u.root).await;
    assert_eq!(app.download(&u, full[0]["id"].as_str().unwrap()).await, data(12 * MIB, 12));
});

dual_test!(async fn a_stalled_upload_times_out_and_leaves_nothing(backend) {
    let app = TestApp::spawn_with(backend, |c| c.body_idle_secs = 1).await;
    let u = app.register("sloth").await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/nodes/{}/files/slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n",
        u.root, u.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 10]).await.unwrap();
    // Send nothing more: the server gives up on its own and says why.
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut answer)).await.expect("an answer").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(app.names(&u, &u.root).await.is_empty());
    assert_eq!(app.used(&u).await, 0);
    let out = app.put(&u, &u.root, "fits.bin", data(1000, 1), "fail").await;
    assert_eq!(out.status(), StatusCode::CREATED);
});

dual_test!(async fn corrupt_or_missing_blocks_are_never_served(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("verifier").await;
    let words = b"precious words ".repeat(BLOCKED / 15);
    let small = app.upload(&u, &u.root, "small.txt", words.clone()).await;
    let big = app.upload(&u, &u.root, "big.bin", data(6 * MIB, 13)).await;
    let block_file = |bytes: &[u8]| {
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        app.data_dir().join("blocks").join(&hex[..2]).join(hex)
    };
    // Flip a byte in the small file's only block: a clean error, never the bytes.
    let path = block_file(&words);
    let mut stored = std::fs::read(&path).unwrap();
    stored[0] ^= 0xff;
    std::fs::write(&path, &stored).unwrap();
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", small["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_problem(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    // A tiny file is kept in the database, not in a block: rot there is caught the same way.
    let tiny = app.upload(&u, &u.root, "tiny.txt", b"tiny words".to_vec()).await;
    let tiny = tiny["id"].as_str().unwrap();
    assert_eq!(app.download(&u, tiny).await, b"tiny words");
    let flip = match backend {
        Backend::Postgres => "UPDATE version_data SET data = set_byte(data, 33, get_byte(data, 33) # 255)",
        Backend::Sqlite => "UPDATE version_data SET data = substr(data, 1, 33) || X'00' || substr(data, 35)",
    };
    let (report, code) = crate::storage::fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["corrupt_inline"].as_u64()), (1, Some(0)), "{report}");
    app.sql(flip).await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{tiny}/content"), &u).send().await.unwrap();
    assert_problem(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    // fsck reads every inlined file too: the rot is reported (there is no copy to repair from).
    let (report, code) = crate::storage::fsck(&app, &[]).await;
    assert_eq!((code, report["found"]["corrupt_inline"].as_u64()), (1, Some(1)), "{report}");
    // Remove the big file's second block: the download stops before serving anything of it.
    std::fs::remove_file(block_file(&data(6 * MIB, 13)[4 * MIB..])).unwrap();
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{}/content", big["id"].as_str().unwrap()), &u).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await;
    assert!(body.is_err() || body.unwrap().len() < 6 * MIB, "a truncated body, never a complete one");
});

dual_test!(async fn downloads_verify_blocks_by_their_recorded_check(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("checker").await;
    let bytes = data(5 * MIB, 16);
    let file = app.upload(&u, &u.root, "two-blocks.bin", bytes.clone()).await;
    let id = file["id"].as_str().unwrap();
    // An upload records each block's BLAKE3 next to its address.
    assert_eq!(app.sql_i64("SELECT COUNT(*) FROM blocks WHERE check_hash IS NOT NULL").await, 2);
    assert_eq!(app.download(&u, id).await, bytes);
    // A download checks the blocks against the recorded checks: with a wrong one (the bytes
    // on disk intact), the block is refused, never served.
    let wrong = match backend {
        Backend::Postgres => "UPDATE blocks SET check_hash = decode(repeat('00', 32), 'hex')",
        Backend::Sqlite => "UPDATE blocks SET check_hash = zeroblob(32)",
    };
    app.sql(wrong).await;
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/content"), &u).send().await.unwrap();
    assert_problem(r, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    // Blocks without a check (stored before checks existed) are verified by their SHA-256.
    app.sql("UPDATE blocks SET check_hash = NULL").await;
    assert_eq!(app.download(&u, id).await, bytes);
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/content"), &u).header("range", "bytes=4194300-4194309").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[4194300..4194310]);
    // The next upload of the same bytes records the checks again (deduplicated, not stored twice).
    app.upload(&u, &u.root, "again.bin", bytes.clone()).await;
    assert_eq!(app.sql_i64("SELECT COUNT(*) FROM blocks WHERE check_hash IS NOT NULL").await, 2);
    assert_eq!(app.download(&u, id).await, bytes);
});

dual_test!(async fn identical_blocks_are_stored_once_across_files_and_users(backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let ben = app.register("ben").await;
    let bytes = data(8 * MIB, 14);
    app.upload(&ann, &ann.root, "a.bin", bytes.clone()).await;
    let files_before = app.stratus.stored_block_files().await.unwrap();
    app.upload(&ann, &ann.root, "a-again.bin", bytes.clone()).await;
    let b = app.upload(&ben, &ben.root, "b.bin", bytes.clone()).await;
    assert_eq!(app.stratus.stored_block_files().await.unwrap(), files_before);
    assert_eq!(app.download(&ben, b["id"].as_str().unwrap()).await, bytes);
    // Each user is charged for their own files.
    assert_eq!(app.used(&ann).await, 16 * MIB as u64);
    assert_eq!(app.used(&ben).await, 8 * MIB as u64);
});

dual_test!(async fn a_large_streamed_upload_round_trips(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("streamer").await;
    let bytes = data(37 * MIB + 5, 15);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(100_003).map(|c| Ok(c.to_vec())).collect();
    let r = app
        .req(Method::PUT, &format!("/api/v1/nodes/{}/files/stream.bin", u.root), &u)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let node: Value = r.json().await.unwrap();
    assert_eq!(node["content_hash"].as_str().unwrap(), python_content_hash(&bytes));
    assert_eq!(app.download(&u, node["id"].as_str().unwrap()).await, bytes);
});
