//! The caller's profile: display name and photo.

use stratus_core::{User, UserId};

use crate::{Caller, Result, ServiceError, Stratus};

/// Largest profile photo accepted, in bytes.
pub const MAX_PHOTO_BYTES: usize = 2 << 20;
/// Largest width or height of a profile photo, in pixels.
const MAX_PHOTO_SIDE: usize = 4096;

impl Stratus {
    /// Sets (or, empty, clears) the caller's display name.
    pub async fn set_display_name(&self, caller: &Caller, name: &str) -> Result<User> {
        let name = name.trim();
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "invalid_display_name",
                "a display name is at most 100 characters, without control characters",
            ));
        }
        self.db().set_display_name(caller.user(), Some(name).filter(|n| !n.is_empty())).await?;
        self.me(caller).await
    }

    /// Sets the caller's photo: a PNG, JPEG, GIF or WebP image of at most 2 MiB and
    /// 4096 × 4096 pixels, its type read from its bytes (never from what the client says).
    pub async fn set_photo(&self, caller: &Caller, bytes: &[u8]) -> Result<User> {
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(ServiceError::invalid("photo_too_large", "a profile photo is at most 2 MiB"));
        }
        let media_type = match imagesize::image_type(bytes) {
            Ok(imagesize::ImageType::Png) => "image/png",
            Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
            Ok(imagesize::ImageType::Gif) => "image/gif",
            Ok(imagesize::ImageType::Webp) => "image/webp",
            _ => {
                return Err(ServiceError::invalid(
                    "unsupported_image",
                    "a profile photo is a PNG, JPEG, GIF or WebP image",
                ));
            }
        };
        let size = imagesize::blob_size(bytes)
            .map_err(|_| ServiceError::invalid("unsupported_image", "this image cannot be read"))?;
        if size.width == 0 || size.height == 0 || size.width > MAX_PHOTO_SIDE || size.height > MAX_PHOTO_SIDE
        {
            return Err(ServiceError::invalid(
                "photo_too_large",
                format!("a profile photo is at most {MAX_PHOTO_SIDE} × {MAX_PHOTO_SIDE} pixels"),
            ));
        }
        self.db().set_photo(caller.user(), Some((media_type, bytes))).await?;
        self.me(caller).await
    }

    pub async fn delete_photo(&self, caller: &Caller) -> Result<()> {
        Ok(self.db().set_photo(caller.user(), None).await?)
    }

    /// A user's photo (media type, bytes), for any signed-in user.
    pub async fn photo(&self, _caller: &Caller, user: UserId) -> Result<(String, Vec<u8>)> {
        self.db().photo(user).await?.ok_or(ServiceError::NotFound)
    }
}
