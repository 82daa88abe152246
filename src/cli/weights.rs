//! Turning `--weights DIR` / `--offline` / `--device` into library options.

use std::path::PathBuf;

use artlens::model::{parse_device, BackboneOptions, WeightsSource};

/// Where the weights come from: a folder if given, else the hub cache.
pub fn source(dir: Option<PathBuf>, offline: bool) -> WeightsSource {
    match dir {
        Some(d) => WeightsSource::Dir(d),
        None => WeightsSource::Hub { offline },
    }
}

/// Backbone options from the shared flags.
pub fn options(image_size: Option<u32>, device: &str) -> artlens::Result<BackboneOptions> {
    Ok(BackboneOptions {
        image_size,
        device: parse_device(device)?,
    })
}

/// Applies `--threads`: candle's CPU kernels and our decoding share rayon's
/// global pool, sized from `RAYON_NUM_THREADS`.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        // Set before any pool exists, so candle's gemm sees the same number.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}
