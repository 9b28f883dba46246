//! Thumbnails made on the server, through HTTP: each picture type, the sizes, cached by content
//! (a replaced picture gets a new one), the usual access rules, and input that must not cost
//! the server more than a refusal.

use std::io::Cursor;

use image::{ImageFormat, Rgba, RgbaImage};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn picture(width: u32, height: u32, format: ImageFormat, alpha: bool, shade: u8) -> Vec<u8> {
    // Noise in two channels, as a photo's detail: its originals are as large as a photo's.
    let img = RgbaImage::from_fn(width, height, |x, y| {
        let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).rotate_left(x % 13) as u8;
        Rgba([shade, noise, noise / 2, if alpha && x < width / 2 { 0 } else { 255 }])
    });
    let mut out = Cursor::new(Vec::new());
    let img = image::DynamicImage::ImageRgba8(img);
    let img = if alpha || format != ImageFormat::Jpeg {
        img
    } else {
        image::DynamicImage::ImageRgb8(img.to_rgb8())
    };
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// The CRC-32 PNG chunks carry (to forge a header a decoder must refuse).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

async fn thumb(app: &TestApp, user: &TestUser, id: &str, query: &str) -> reqwest::Response {
    app.req(Method::GET, &format!("/api/v1/nodes/{id}/thumbnail{query}"), user).send().await.unwrap()
}

dual_test!(async fn pictures_get_small_thumbnails_keyed_by_their_content(backend) {
    let app = TestApp::spawn(backend).await;
    let u = app.register("photographer").await;
    let eve = app.register("eve").await;
    let friend = app.register("friend").await;

    for (name, format, alpha, media_type) in [
        ("beach.jpg", ImageFormat::Jpeg, false, "image/jpeg"),
        ("logo.png", ImageFormat::Png, true, "image/png"),
        ("anim.gif", ImageFormat::Gif, false, "image/jpeg"),
        ("pic.webp", ImageFormat::WebP, false, "image/jpeg"),
    ] {
        let original = picture(1200, 800, format, alpha, 10);
        let node = app.upload(&u, &u.root, name, original.clone()).await;
        let id = node["id"].as_str().unwrap();
        for size in [64u32, 256] {
            let r = thumb(&app, &u, id, &format!("?size={size}")).await;
            assert_eq!(r.status(), StatusCode::OK, "{name} at {size}");
            assert_eq!(r.headers()["content-type"], media_type, "{name}");
            let bytes = r.bytes().await.unwrap();
            assert!(bytes.len() < original.len() / 4, "{name}: {} bytes of a {}-byte original", bytes.len(), original.len());
            let small = image::load_from_memory(&bytes).unwrap();
            let height = (f64::from(size) * 2.0 / 3.0).round() as u32;
            assert_eq!((small.width(), small.height()), (size, height), "{name}: the longest side, the shape kept");
        }
    }

    // Cached by content: the URL naming the content may be kept for good; new content is a new
    // thumbnail (and a new ETag), never the old picture.
    let id = app.by_path(&u, "/beach.jpg").await;
    let node = ok_json(app.req(Method::GET, &format!("/api/v1/nodes/{id}"), &u).send().await.unwrap()).await;
    let hash = node["content_hash"].as_str().unwrap().to_string();
    let first = thumb(&app, &u, &id, &format!("?v={hash}")).await;
    assert!(first.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let before = first.bytes().await.unwrap();
    let r = app.req(Method::GET, &format!("/api/v1/nodes/{id}/thumbnail"), &u).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = app.put(&u, &u.root, "beach.jpg", picture(1200, 800, ImageFormat::Jpeg, false, 250), "replace").await;
    assert!(r.status().is_success());
    let after = thumb(&app, &u, &id, "").await;
    assert_ne!(after.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(after.headers()["cache-control"], "private, no-cache", "an old URL is checked again");
    let after = after.bytes().await.unwrap();
    assert_ne!(after, before, "the new picture's thumbnail");
    let red = |b: &[u8]| image::load_from_memory(b).unwrap().to_rgb8().get_pixel(5, 5).0[0];
    assert!(red(&before) < 60 && red(&after) > 200, "{} then {}", red(&before), red(&after));

    // Who may read the file may see its thumbnail; nobody else learns it exists.
    assert_eq!(thumb(&app, &eve, &id, "").await.status(), StatusCode::NOT_FOUND);
    let r = app.req(Method::POST, &format!("/api/v1/nodes/{id}/shares"), &u).json(&json!({"user": "friend", "role": "viewer"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(thumb(&app, &friend, &id, "").await.status(), StatusCode::OK);

    // What is no picture, or asks for what is not offered, is refused with a reason.
    let text = app.upload(&u, &u.root, "notes.txt", b"not a picture".to_vec()).await;
    assert_problem(thumb(&app, &u, text["id"].as_str().unwrap(), "").await, StatusCode::UNPROCESSABLE_ENTITY, "no_thumbnail").await;
    assert_problem(thumb(&app, &u, &u.root, "").await, StatusCode::UNPROCESSABLE_ENTITY, "no_thumbnail").await;
    assert_problem(thumb(&app, &u, &id, "?size=5000").await, StatusCode::BAD_REQUEST, "invalid_size").await;
    let broken = app.upload(&u, &u.root, "broken.png", picture(40, 40, ImageFormat::Png, false, 1)[..60].to_vec()).await;
    assert_problem(thumb(&app, &u, broken["id"].as_str().unwrap(), "").await, StatusCode::UNPROCESSABLE_ENTITY, "no_thumbnail").await;
    // A picture smaller than the size asked keeps its size; one turned by its EXIF note is
    // drawn upright (here: none, so as stored).
    let tiny = app.upload(&u, &u.root, "icon.png", picture(16, 10, ImageFormat::Png, false, 1)).await;
    let r = thumb(&app, &u, tiny["id"].as_str().unwrap(), "?size=256").await;
    let small = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (16, 10), "never enlarged");
    // A file that failed once fails again without being decoded again (the same answer).
    let broken_id = broken["id"].as_str().unwrap();
    assert_problem(thumb(&app, &u, broken_id, "").await, StatusCode::UNPROCESSABLE_ENTITY, "no_thumbnail").await;
    // A picture claiming 100,000 × 100,000 pixels (40 GB decoded) is refused, not decoded.
    let mut bomb = picture(1, 1, ImageFormat::Png, false, 1);
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let bomb = app.upload(&u, &u.root, "bomb.png", bomb).await;
    assert_problem(thumb(&app, &u, bomb["id"].as_str().unwrap(), "").await, StatusCode::UNPROCESSABLE_ENTITY, "no_thumbnail").await;
});
