//! The integration suite: every public behaviour through HTTP (and the CLI), against SQLite
//! and PostgreSQL. One binary, so it links once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod accounts;
mod admin_users;
mod attacks;
mod billing;
mod cli;
mod cluster;
mod cluster_flow;
mod dav;
mod fakes;
mod faults;
mod files;
mod jobs;
mod lifecycle;
mod links;
mod markdown;
mod matrix;
mod nextcloud;
mod nextcloud_files;
mod oidc;
mod ops;
mod schema;
mod sessions;
mod sharing;
mod stats;
mod storage;
mod thumbnails;
mod trash;
mod tree;
mod tus;
mod versions;
mod web;
