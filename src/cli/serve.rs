//! `artlens serve`: clap options → validated [`crate::server::ServeOptions`]
//! → the server, which runs until Ctrl-C.

use std::net::IpAddr;
use std::path::PathBuf;

#[cfg(feature = "serve")]
use anyhow::Context;
use anyhow::{bail, Result};
use clap::Args;

#[cfg(feature = "serve")]
use artlens::model::registry::default_backbones;

use super::args::{parse_backbones, parse_rater, BackboneList, WeightsArgs};
use super::Ctx;
#[cfg(feature = "serve")]
use crate::server::{self, ServeOptions};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens serve data/collection      # http://127.0.0.1:8700/ — index it from the first page\n  artlens serve                      # the store as it is\n  artlens serve --open --allow-dir data/collection\n  artlens serve --host 0.0.0.0 --port 9000   # prints a URL with an access token"
)]
// Without the `serve` feature the flags still parse (the help is the same in
// every build), but nothing reads them.
#[cfg_attr(not(feature = "serve"), allow(dead_code))]
pub struct ServeArgs {
    /// A collection folder to offer for indexing on the first page (allowed
    /// like --allow-dir).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The address to listen on; anything but loopback requires an access token.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port (0: any free one; the URL printed says which).
    #[arg(long, default_value_t = 8700)]
    port: u16,
    /// The access token every request must carry (default on a non-loopback
    /// host: a random one, printed in the URL).
    #[arg(long, env = "ARTLENS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A folder the Index page may index (repeatable; default: DIR, the
    /// collection roots already in the store, else the current folder).
    #[arg(long, value_name = "DIR")]
    allow_dir: Vec<PathBuf>,
    /// The backbones an index job embeds with (default: those in the store, else dino,dinov2).
    #[arg(long, value_name = "ID[,ID...]", value_parser = parse_backbones)]
    backbones: Option<BackboneList>,
    /// Whose ratings the pages show and record.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
    /// Open the URL in the desktop's browser.
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    weights: WeightsArgs,
}

#[cfg(not(feature = "serve"))]
pub fn run(_args: ServeArgs, _ctx: &Ctx) -> Result<i32> {
    bail!("this artlens was built without the `serve` feature; rebuild with `cargo install artlens --features serve`")
}

#[cfg(feature = "serve")]
pub fn run(args: ServeArgs, ctx: &Ctx) -> Result<i32> {
    let token = match args.token {
        Some(t) if t.trim().len() < 16 => {
            bail!("--token must be at least 16 characters (a guessable token protects nothing)")
        }
        Some(t) => Some(t.trim().to_string()),
        None if args.host.is_loopback() => None,
        None => Some(server::new_token().context("cannot make an access token")?),
    };
    if let Some(t) = &token {
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("--token may hold letters, digits, `-` and `_` only (it goes into a URL and a cookie)");
        }
    }
    let collection = ctx.create(args.weights.config(None)?)?;
    let mut allow_dirs = Vec::new();
    let dir = match &args.dir {
        Some(d) => match std::fs::canonicalize(d) {
            Ok(c) if c.is_dir() => Some(c),
            _ => bail!("{}: not a folder this process can read", d.display()),
        },
        None => None,
    };
    allow_dirs.extend(dir.clone());
    let mut asked: Vec<PathBuf> = if args.allow_dir.is_empty() {
        collection
            .store()
            .roots()
            .into_iter()
            .map(|r| PathBuf::from(r.path))
            .collect()
    } else {
        args.allow_dir.clone()
    };
    // With no folder named anywhere, the folder the server was started in
    // is the one it may index, so that a first run on a fresh store is
    // never a dead end (the page offers it; nothing outside it is reachable).
    if asked.is_empty() && dir.is_none() {
        asked.push(std::env::current_dir().context("cannot read the current folder")?);
    }
    for d in asked {
        match std::fs::canonicalize(&d) {
            Ok(c) if c.is_dir() => {
                if !allow_dirs.contains(&c) {
                    allow_dirs.push(c)
                }
            }
            Ok(_) | Err(_) if !args.allow_dir.is_empty() => {
                bail!(
                    "--allow-dir {}: not a folder this process can read",
                    d.display()
                )
            }
            // A collection root that is gone (an unplugged disk) is simply
            // not offered.
            _ => ctx.msg.info(format!(
                "collection root {} is not reachable; the Index page will not offer it",
                d.display()
            )),
        }
    }
    let index_backbones = match args.backbones {
        Some(b) => b.0,
        None => {
            let stored = collection.store().backbones()?;
            if stored.is_empty() {
                default_backbones()
            } else {
                stored
            }
        }
    };
    let opts = ServeOptions {
        host: args.host,
        port: args.port,
        token,
        allow_dirs,
        index_backbones,
        rater: args.rater,
        dir,
        open: args.open,
    };
    let msg = ctx.msg;
    server::run(collection, opts, &|m| msg.info(m))?;
    Ok(0)
}
