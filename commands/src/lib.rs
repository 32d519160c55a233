//! Command handling and the CLI of the `ledger` binary. The only crate that uses `anyhow`, `clap`,
//! `indicatif` and the tokio runtime directly.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod files;
pub mod handler;
pub mod import;
pub mod kg_context;
pub mod pki;
pub mod project;
pub mod pseudonym;
pub mod read;
pub mod render;
pub mod serve;
pub mod submit;
pub mod uniqueness;
pub mod watch;
pub mod writer;
pub mod writer_state;
