//! Thumbnails of pictures (JPEG, PNG, GIF, WebP), made on the server in two sizes so a folder
//! of photos never downloads its originals, and kept by owner and content hash, so a file's new
//! content gets new ones and copies share them. Decoding is bounded (the original's bytes, its
//! dimensions, the memory the decoder may take) and runs off the async threads, two at a time.

use bytes::Bytes;
use futures_util::TryStreamExt;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use stratus_core::NodeId;

use crate::{Caller, Result, ServiceError, Stratus, access::Read};

/// The sizes a thumbnail is made in: the longest side, in pixels.
pub const THUMBNAIL_SIZES: [u32; 2] = [64, 256];
/// The largest original a thumbnail is made of.
const MAX_ORIGINAL: u64 = 64 << 20;
/// The largest side a decoded original may have, and the memory its decoder may take.
const MAX_SIDE: u32 = 8_192;
const MAX_DECODE_BYTES: u64 = 320 << 20;
/// Bytes of an original read to tell its type and size before the rest is.
const SNIFF: u64 = 256 << 10;
/// The media type kept for a content no thumbnail could be made of.
const FAILED: &str = "";

/// A thumbnail, ready to send.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The content it was made of: what keys it, and its ETag.
    pub content_hash: String,
    pub media_type: String,
    pub data: Bytes,
}

/// Thumbnails being made at once (each decode takes a core while it runs), and Markdown
/// renderings.
pub(crate) struct Makers(std::sync::Arc<tokio::sync::Semaphore>);

impl Makers {
    /// A turn to run, held until the work is done.
    pub(crate) async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.map_err(ServiceError::internal)
    }
}

impl Default for Makers {
    fn default() -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(2)))
    }
}

fn none(why: &str) -> ServiceError {
    ServiceError::invalid("no_thumbnail", format!("no thumbnail can be made of this file: {why}"))
}

impl Stratus {
    /// The thumbnail of a file the caller may read, `size` pixels on its longest side (one of
    /// [`THUMBNAIL_SIZES`]; a smaller picture keeps its size), made on first request.
    pub async fn thumbnail(&self, caller: Option<&Caller>, node: NodeId, size: u32) -> Result<Thumbnail> {
        if !THUMBNAIL_SIZES.contains(&size) {
            return Err(ServiceError::bad_request("invalid_size", "a thumbnail is 64 or 256 pixels"));
        }
        let file = self.authorize::<Read>(caller, node).await?;
        let hash = file.node().content_hash.clone().ok_or_else(|| none("it is a folder"))?;
        let owner = file.node().owner_id;
        if let Some(kept) = self.db().thumbnail(owner, &hash, size).await? {
            return kept_thumbnail(hash, kept);
        }
        if file.node().size > MAX_ORIGINAL {
            return Err(none("it is larger than 64 MiB"));
        }
        let download = self.content_of(&file).await?;
        // Its head first: what is no picture, or too large a one, is refused unread.
        let head = download.size.min(SNIFF);
        let head: Vec<Bytes> = download.stream(0, head.saturating_sub(1)).try_collect().await?;
        let head = head.concat();
        if !matches!(
            imagesize::image_type(&head),
            Ok(imagesize::ImageType::Jpeg
                | imagesize::ImageType::Png
                | imagesize::ImageType::Gif
                | imagesize::ImageType::Webp)
        ) {
            return Err(none("not a JPEG, PNG, GIF or WebP picture"));
        }
        if imagesize::blob_size(&head).is_ok_and(|d| d.width.max(d.height) > MAX_SIDE as usize) {
            return Err(none("it is more than 8,192 pixels on a side"));
        }
        let turn = self.0.thumbnail_makers.turn().await?;
        // Made meanwhile by a request that held a turn before this one.
        if let Some(kept) = self.db().thumbnail(owner, &hash, size).await? {
            return kept_thumbnail(hash, kept);
        }
        // Made and kept by a task of its own: a client that goes away neither frees its turn
        // while the decoder still runs nor leaves the work to be done again.
        let me = self.clone();
        let content = hash.clone();
        let made = tokio::spawn(async move { me.make_and_keep(download, owner, &content, size, turn).await })
            .await
            .map_err(ServiceError::internal)??;
        Ok(Thumbnail { content_hash: hash, media_type: made.0.to_string(), data: made.1.into() })
    }

    async fn make_and_keep(
        &self,
        download: crate::Download,
        owner: stratus_core::UserId,
        hash: &str,
        size: u32,
        turn: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(&'static str, Vec<u8>)> {
        let mut original = bytes::BytesMut::with_capacity(usize::try_from(download.size).unwrap_or(0));
        let mut stream = std::pin::pin!(download.stream(0, download.size.saturating_sub(1)));
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            original.extend_from_slice(&chunk?);
        }
        let original = original.freeze();
        let made = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            make(&original, size)
        })
        .await;
        let made = match made {
            Ok(made) => made,
            Err(err) if err.is_panic() => Err(none("its decoder failed")),
            Err(err) => Err(ServiceError::internal(err)),
        };
        match &made {
            Ok((media_type, data)) => {
                self.db().keep_thumbnail(owner, hash, size, media_type, data, self.now()).await?
            }
            // What cannot be decoded is remembered so, and not decoded again.
            Err(ServiceError::Invalid { code: "no_thumbnail", .. }) => {
                self.db().keep_thumbnail(owner, hash, size, FAILED, &[], self.now()).await?
            }
            Err(_) => {}
        }
        made
    }
}

/// A thumbnail found made, or the failure remembered in its place.
fn kept_thumbnail(content_hash: String, (media_type, data): (String, Vec<u8>)) -> Result<Thumbnail> {
    if media_type == FAILED {
        return Err(none("it could not be decoded"));
    }
    Ok(Thumbnail { content_hash, media_type, data: data.into() })
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
    let mut decoder = reader.into_decoder().map_err(|err| none(&err.to_string()))?;
    // A phone's portrait photo is stored sideways with a note to turn it.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(|err| none(&err.to_string()))?;
    picture.apply_orientation(orientation);
    // Never larger than the picture itself.
    let side = size.min(picture.width().max(picture.height())).max(1);
    let small = picture.thumbnail(side, side);
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
