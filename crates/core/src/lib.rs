//! Stratus core: the vocabulary every other layer speaks.
//!
//! Typed ids, validated names, the content-hash rule, the domain records the service hands
//! to adapters, quota rules and the clock. No I/O lives here, so everything is unit-testable.

pub mod access;
pub mod clock;
pub mod hash;
pub mod ids;
pub mod model;
pub mod name;
pub mod volume;

pub use access::Action;
pub use clock::{Clock, OffsetClock, SystemClock};
pub use hash::{BLOCK_SIZE, BlockCheck, BlockHash, BlockRef, ContentHasher, content_hash};
pub use ids::{LinkId, NodeId, ShareId, TokenId, UrlId, UserId, VersionId};
pub use model::*;
pub use name::{NameError, NodeName};
pub use volume::{Tier, VolumeRecord, VolumeState, default_tiers, pool_for_quota};
