//! Route modules, mirroring the URL tree under `/api/v1`.

pub mod admin;
pub mod auth;
pub mod billing;
pub mod content;
pub mod derived;
pub mod links;
pub mod nodes;
pub mod ops;
pub mod profile;
pub mod recovery;
pub mod shares;
pub mod tus;
pub mod uploads;
