//! Thumbnails of pictures (JPEG, PNG, GIF, WebP), made on the server in two sizes so a folder
//! of photos never downloads its originals, and kept by owner and content hash, so a file's new
//! content gets new ones and copies share them. Decoding is bounded (the original's bytes, its
//! dimensions, the memory the decoder may take) and runs off the async threads, two at a time.

use bytes::Bytes;
use futures_util::TryStreamExt;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use stratus_core::NodeId;

use crate::{Caller, Result, ServiceError, Stratus, access::Read};

/// The sizes a thumbnail is made in: the longest side, in pixels.
pub const THUMBNAIL_SIZES: [u32; 2] = [64, 256];
/// The largest original a thumbnail is made of.
const MAX_ORIGINAL: u64 = 64 << 20;
/// The largest side a decoded original may have, and the memory its decoder may take.
const MAX_SIDE: u32 = 16_384;
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// A thumbnail, ready to send.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The content it was made of: what keys it, and its ETag.
    pub content_hash: String,
    pub media_type: String,
    pub data: Bytes,
}

/// Thumbnails being made at once (each decode takes a core while it runs).
pub(crate) struct Makers(tokio::sync::Semaphore);

impl Default for Makers {
    fn default() -> Self {
        Self(tokio::sync::Semaphore::new(2))
    }
}

fn none(why: &str) -> ServiceError {
    ServiceError::invalid("no_thumbnail", format!("no thumbnail can be made of this file: {why}"))
}

impl Stratus {
    /// The thumbnail of a file the caller may read, `size` pixels on its longest side (one of
    /// [`THUMBNAIL_SIZES`]), made on first request.
    pub async fn thumbnail(&self, caller: Option<&Caller>, node: NodeId, size: u32) -> Result<Thumbnail> {
        if !THUMBNAIL_SIZES.contains(&size) {
            return Err(ServiceError::bad_request("invalid_size", "a thumbnail is 64 or 256 pixels"));
        }
        let file = self.authorize::<Read>(caller, node).await?;
        let hash = file.node().content_hash.clone().ok_or_else(|| none("it is a folder"))?;
        let owner = file.node().owner_id;
        if let Some((media_type, data)) = self.db().thumbnail(owner, &hash, size).await? {
            return Ok(Thumbnail { content_hash: hash, media_type, data: data.into() });
        }
        if file.node().size > MAX_ORIGINAL {
            return Err(none("it is larger than 64 MiB"));
        }
        let _turn = self.0.thumbnail_makers.0.acquire().await.map_err(ServiceError::internal)?;
        // Made meanwhile by a request that held a turn before this one.
        if let Some((media_type, data)) = self.db().thumbnail(owner, &hash, size).await? {
            return Ok(Thumbnail { content_hash: hash, media_type, data: data.into() });
        }
        let download = self.content_of(&file).await?;
        let original: Vec<Bytes> = download.stream(0, download.size.saturating_sub(1)).try_collect().await?;
        let original = original.concat();
        let (media_type, data) = tokio::task::spawn_blocking(move || make(&original, size))
            .await
            .map_err(ServiceError::internal)??;
        self.db().keep_thumbnail(owner, &hash, size, media_type, &data, self.now()).await?;
        Ok(Thumbnail { content_hash: hash, media_type: media_type.to_string(), data: data.into() })
    }
}

/// Decodes `original` within the limits and draws it `size` pixels on its longest side: a
/// JPEG, or a PNG when it has transparency.
fn make(original: &[u8], size: u32) -> Result<(&'static str, Vec<u8>)> {
    let mut reader = ImageReader::new(std::io::Cursor::new(original))
        .with_guessed_format()
        .map_err(|_| none("unreadable"))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP) => {}
        _ => return Err(none("not a JPEG, PNG, GIF or WebP picture")),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|err| none(&err.to_string()))?;
    let small = picture.thumbnail(size, size);
    let mut out = std::io::Cursor::new(Vec::new());
    // A GIF or WebP decodes with an alpha channel even where every pixel is opaque.
    let transparent = small.color().has_alpha() && small.to_rgba8().pixels().any(|p| p.0[3] < 255);
    let media_type = if transparent {
        small.write_to(&mut out, ImageFormat::Png).map_err(ServiceError::internal)?;
        "image/png"
    } else {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82)
            .encode_image(&rgb)
            .map_err(ServiceError::internal)?;
        "image/jpeg"
    };
    Ok((media_type, out.into_inner()))
}
