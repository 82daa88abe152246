//! Who and what made a view: the provenance every report and `--json`
//! carries, and how a backbone is named on a page.

use serde::{Deserialize, Serialize};

/// Who and what made a view: shown in HTML reports and included in --json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The version of artlens that made the view.
    pub artlens_version: String,
    /// Seconds since the Unix epoch when the view was made.
    pub generated_at: u64,
    /// The store folder the view was computed from.
    pub store: String,
    /// "ridge" or "mlp" when a taste head was used.
    pub head_kind: Option<String>,
    /// The backbones shown, in column order.
    pub backbones: Vec<BackboneLabel>,
}

impl Provenance {
    /// A provenance made now by this build of artlens.
    pub fn now(
        store: impl Into<String>,
        head_kind: Option<String>,
        backbones: Vec<BackboneLabel>,
    ) -> Self {
        let generated_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Provenance {
            artlens_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at,
            store: store.into(),
            head_kind,
            backbones,
        }
    }

    /// The label of the backbone with id `id`, if recorded.
    pub fn backbone(&self, id: &str) -> Option<&BackboneLabel> {
        self.backbones.iter().find(|b| b.id == id)
    }
}

/// How a backbone is named and described on a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackboneLabel {
    /// The short id used as key in `models` (e.g. "dino", "dinov2@224").
    pub id: String,
    /// The hub repository (e.g. "facebook/dino-vitb16").
    pub hub_id: String,
    /// e.g. "DINOv2 ViT-B/14".
    pub display_name: String,
    /// One line: architecture, pretraining data and its size in images.
    pub description: String,
    /// Input resolution in pixels.
    pub resolution: u32,
}
