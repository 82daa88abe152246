//! The integration tests, as one binary (ripgrep's `tests/tests.rs`): each
//! file beside this one is a module, so the whole suite links once instead of
//! once per file, and shares the harness in `common/`.
//!
//! Run one file's tests with `cargo test --test tests serve::`, one test with
//! `cargo test --test tests serve::some_test_name`. A new test file
//! `tests/NAME.rs` is registered by adding `mod NAME;` below; it reaches the
//! harness with `use crate::common;`. All tests share this process: a test
//! must not change the environment, the working folder or any other
//! process-wide state (give a child `Command` its own `.env(..)` and
//! `.current_dir(..)` instead). The binary needs the default features
//! (`required-features` in `Cargo.toml`): the tests drive `artlens serve` and
//! read Parquet exports throughout.

mod common;

mod ann_recall;
mod app;
mod browser_cdp;
mod cli_backbones;
mod cli_embed;
mod cli_explain;
mod cli_index;
mod cli_models;
mod cli_raters;
mod cli_taste;
mod cli_verdict;
mod decode_fast;
mod dups;
mod dups_browser;
mod explain;
mod explain_parity;
mod golden_store;
mod hardening;
mod head;
mod hf_parity;
mod hostile_images;
mod imaging_parity;
mod jpeg_parity;
mod map;
mod map_browser;
mod model_parity;
mod names;
mod report_browser;
mod scale_out;
mod serve;
mod serve_browser;
mod store;
mod store_recovery;
mod text_parity;
mod words;
mod words_browser;
mod zoo_parity;
