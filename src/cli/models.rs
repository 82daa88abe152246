//! `artlens models`: the backbone zoo, with what is already downloaded.

use anyhow::Result;
use clap::Args;

use artlens::app;

use super::{out_json, out_line, Ctx};

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  artlens models\n  artlens models --json")]
pub struct ModelsArgs {
    /// One JSON array on stdout: [{"id","hub_id","also","family","display_name","architecture","params","patch_size","resolution","embedding_dim","pretraining_data","pretraining_images","gated","cached","cached_path"}].
    #[arg(long)]
    json: bool,
}

pub fn run(args: ModelsArgs, _ctx: &Ctx) -> Result<i32> {
    let models = app::models();
    if args.json {
        out_json(&models)?;
        return Ok(0);
    }
    let id_w = models.iter().map(|m| m.id.len()).max().unwrap_or(2).max(2);
    let hub_w = models.iter().map(|m| m.hub_id.len()).max().unwrap_or(6);
    out_line(&format!(
        "{:<id_w$}  {:<hub_w$}  {:<7} {:>7} {:>5} {:>5} {:>5}  {:<20} {:>7}  {:<5}  cached",
        "id",
        "hub id",
        "family",
        "params",
        "patch",
        "px",
        "dim",
        "pretraining data",
        "images",
        "gated"
    ));
    for m in &models {
        out_line(&format!(
            "{:<id_w$}  {:<hub_w$}  {:<7} {:>7} {:>5} {:>5} {:>5}  {:<20} {:>7}  {:<5}  {}",
            m.id,
            m.hub_id,
            m.family,
            m.params_human(),
            m.patch_size,
            m.resolution,
            m.embedding_dim,
            m.pretraining_data,
            m.images_human(),
            if m.gated { "yes" } else { "no" },
            m.cached_path.as_deref().unwrap_or("no"),
        ));
    }
    Ok(0)
}
