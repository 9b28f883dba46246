//! Slow clients holding connections: half-sent headers, trickled bodies, idle keep-alives, and
//! more sockets than the server can hold.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Reads until the server closes the connection (or `limit` passes); what it sent.
async fn until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok().map(|()| String::from_utf8_lossy(&got).to_string())
}

// Finding 11: half-sent headers, 1 B/s bodies and idle sockets stayed open for minutes; with a
// small descriptor limit, 300 idle sockets stopped the server.
dual_test!(async fn slow_and_idle_connections_are_closed_and_excess_ones_refused(backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.header_timeout_secs = 3;
        c.body_idle_secs = 1;
        c.max_connections = 8;
    })
    .await;
    let u = app.register("patient").await;

    // Headers never finished: closed after the header timeout.
    let mut half = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert!(until_closed(&mut half, Duration::from_secs(10)).await.is_some(), "half-sent headers are cut off");

    // An idle keep-alive connection after a request: closed too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut idle, Duration::from_secs(10)).await.expect("closed once idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body trickled a byte at a time: abandoned, not held open.
    let mut trickle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PROPPATCH /dav/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n<",
        u.token
    );
    trickle.write_all(head.as_bytes()).await.unwrap();
    let dripping = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if trickle.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), dripping).await.unwrap();
    assert!(until_closed(&mut trickle, Duration::from_secs(10)).await.is_some(), "the trickle is cut off");

    // More sockets than the cap: the extra ones are told 503 at once, the server still serves.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    let mut extra = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let refused = until_closed(&mut extra, Duration::from_secs(5)).await.expect("refused at once");
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("server_busy"), "{refused}");
    drop(held);
    eventually("the server serves again once the sockets go", || async {
        app.anon(reqwest::Method::GET, "/health").send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
});
