//! The backbone registry: every checkpoint artlens knows, as data, and the
//! [`BackboneId`] that names one of them at one input resolution.
//!
//! A backbone is named on the command line, in the store and in every view
//! by an id: the hub repository (`facebook/dino-vitb16`) or its short alias
//! (`dino`), optionally followed by `@SIZE` for another square input
//! resolution (`dinov2@224`). Two ids that differ only in resolution are two
//! backbones: they make different embeddings, so they are stored, indexed,
//! trained and compared separately. Everything else that differs between
//! checkpoints (dims, preprocessing, tensor names) is read from the
//! checkpoint's own files by [`crate::model::config`]; the registry only
//! holds what those files do not say: where to download them, how they are
//! laid out, and how to describe them to a person.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::model::config::Layout;

/// The largest input side artlens accepts: position embeddings, attention
/// and activations grow with its square (a ViT-B at 2048 px needs about
/// 9 GB for one image), and no known checkpoint was trained above 1024.
pub const MAX_RESOLUTION: u32 = 2048;

/// One known checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackboneSpec {
    /// The hub repository the weights come from.
    pub hub_id: &'static str,
    /// The short name accepted everywhere instead of `hub_id`, and used as
    /// the key in views and JSON.
    pub alias: &'static str,
    /// The tensor naming scheme, which is also the reference library whose
    /// output artlens reproduces (transformers or timm).
    pub layout: Layout,
    /// The input side the checkpoint's preprocessing produces.
    pub default_resolution: u32,
    pub patch_size: u32,
    /// Shown as a column title: "DINOv2 ViT-B/14".
    pub display_name: &'static str,
    /// The family's name, for verdict sentences: "DINOv2".
    pub short_name: &'static str,
    /// Architecture in a few words.
    pub architecture: &'static str,
    /// The pretraining data set.
    pub pretraining_data: &'static str,
    /// How many images that data set holds.
    pub pretraining_images: u64,
    /// Hub revisions and files to try, in order of preference.
    pub hub_plans: &'static [HubPlan],
}

/// One way to fetch a checkpoint from the hub: a revision and the files to
/// take from it (config first, then the preprocessor config if any, then
/// the weights).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPlan {
    pub revision: &'static str,
    pub files: &'static [&'static str],
}

/// Every known checkpoint, in the order reports list them: by pretraining
/// data size, smallest first, which is the order of the seed's question.
pub const REGISTRY: &[BackboneSpec] = &[
    BackboneSpec {
        hub_id: "facebook/dino-vitb16",
        alias: "dino",
        layout: Layout::Transformers,
        default_resolution: 224,
        patch_size: 16,
        display_name: "DINO ViT-B/16",
        short_name: "DINO",
        architecture: "ViT-B/16, 86M parameters",
        pretraining_data: "ImageNet-1k",
        pretraining_images: 1_281_167,
        // `main` has only the pickle; a safetensors copy lives on `refs/pr/7`.
        hub_plans: &[
            HubPlan {
                revision: "refs/pr/7",
                files: &[
                    "config.json",
                    "preprocessor_config.json",
                    "model.safetensors",
                ],
            },
            HubPlan {
                revision: "main",
                files: &[
                    "config.json",
                    "preprocessor_config.json",
                    "pytorch_model.bin",
                ],
            },
        ],
    },
    BackboneSpec {
        hub_id: "timm/vit_base_patch14_dinov2.lvd142m",
        alias: "dinov2",
        layout: Layout::Timm,
        default_resolution: 518,
        patch_size: 14,
        display_name: "DINOv2 ViT-B/14",
        short_name: "DINOv2",
        architecture: "ViT-B/14, 86M parameters, LayerScale",
        pretraining_data: "LVD-142M",
        pretraining_images: 142_000_000,
        hub_plans: &[HubPlan {
            revision: "main",
            files: &["config.json", "model.safetensors"],
        }],
    },
];

/// The backbones `index` embeds with when none are named.
pub const DEFAULT_BACKBONES: &[&str] = &["dino", "dinov2"];

impl BackboneSpec {
    /// Looks a checkpoint up by alias or hub id (case-insensitive).
    pub fn find(name: &str) -> Option<&'static BackboneSpec> {
        let name = name.trim();
        REGISTRY
            .iter()
            .find(|s| s.alias.eq_ignore_ascii_case(name) || s.hub_id.eq_ignore_ascii_case(name))
    }

    /// "ViT-B/14, 86M parameters · LVD-142M (142M images)".
    pub fn description(&self) -> String {
        format!(
            "{} · {} ({} images)",
            self.architecture,
            self.pretraining_data,
            human_count(self.pretraining_images)
        )
    }

    /// The aliases and hub ids, for "unknown backbone" messages and `--help`.
    pub fn known_list() -> String {
        REGISTRY
            .iter()
            .map(|s| format!("{} ({})", s.alias, s.hub_id))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// 1.28M, 142M, 1.7B.
pub fn human_count(n: u64) -> String {
    let (v, unit) = if n >= 1_000_000_000 {
        (n as f64 / 1e9, "B")
    } else if n >= 1_000_000 {
        (n as f64 / 1e6, "M")
    } else if n >= 1_000 {
        (n as f64 / 1e3, "k")
    } else {
        return n.to_string();
    };
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{unit}")
}

/// A backbone: a known checkpoint at one input resolution.
///
/// Written as `ALIAS[@SIZE]` ([`BackboneId::name`], what people read and
/// what views use as keys) or `HUB_ID[@SIZE]` ([`BackboneId::key`], what the
/// store uses, so that a renamed alias never orphans stored embeddings). The
/// checkpoint's default resolution is never written: `dinov2@518` is
/// `dinov2`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackboneId {
    /// Index into [`REGISTRY`]: registry order is report order.
    spec: usize,
    /// `None` at the checkpoint's default resolution.
    resolution: Option<u32>,
}

impl BackboneId {
    /// Parses `dino`, `facebook/dino-vitb16`, `dinov2@224`, ...
    ///
    /// An unknown name is [`Error::UnknownBackbone`] listing the known ones;
    /// a resolution that is not a positive multiple of the patch size, or
    /// above [`MAX_RESOLUTION`], is [`Error::BadResolution`] naming both.
    pub fn parse(s: &str) -> Result<BackboneId> {
        let s = s.trim();
        let (name, size) = match s.rsplit_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let Some(index) = REGISTRY.iter().position(|spec| {
            spec.alias.eq_ignore_ascii_case(name.trim())
                || spec.hub_id.eq_ignore_ascii_case(name.trim())
        }) else {
            return Err(Error::UnknownBackbone {
                name: s.to_string(),
                known: BackboneSpec::known_list(),
            });
        };
        let id = BackboneId {
            spec: index,
            resolution: None,
        };
        match size {
            None => Ok(id),
            Some(r) => {
                let r: u32 = r.trim().parse().map_err(|_| Error::BadResolution {
                    backbone: name.trim().to_string(),
                    resolution: r.to_string(),
                    reason: "the part after `@` must be a whole number of pixels, e.g. dinov2@224"
                        .into(),
                })?;
                id.at_resolution(r)
            }
        }
    }

    /// The same checkpoint at input side `r` (validated as in [`BackboneId::parse`]).
    pub fn at_resolution(&self, r: u32) -> Result<BackboneId> {
        let spec = self.spec();
        let bad = |reason: String| Error::BadResolution {
            backbone: spec.alias.to_string(),
            resolution: r.to_string(),
            reason,
        };
        if r == 0 || !r.is_multiple_of(spec.patch_size) {
            let p = spec.patch_size;
            let lower = (r / p).max(1) * p;
            return Err(bad(format!(
                "it is not a multiple of the patch size {p} of {}; try {} or {}",
                spec.alias,
                lower,
                lower + p
            )));
        }
        if r > MAX_RESOLUTION {
            return Err(bad(format!(
                "artlens accepts at most {MAX_RESOLUTION} px a side (memory grows with its square)"
            )));
        }
        Ok(BackboneId {
            spec: self.spec,
            resolution: (r != spec.default_resolution).then_some(r),
        })
    }

    /// The registry entry.
    pub fn spec(&self) -> &'static BackboneSpec {
        &REGISTRY[self.spec]
    }

    /// The input side in pixels.
    pub fn resolution(&self) -> u32 {
        self.resolution.unwrap_or(self.spec().default_resolution)
    }

    /// The resolution when it is not the checkpoint's default: what the
    /// model must be told to resample its position embeddings to.
    pub fn resolution_override(&self) -> Option<u32> {
        self.resolution
    }

    /// `dino`, `dinov2@224`: the name people type and views show.
    pub fn name(&self) -> String {
        self.with_suffix(self.spec().alias)
    }

    /// `facebook/dino-vitb16`, `timm/vit_base_patch14_dinov2.lvd142m@224`:
    /// the stable key the store files embeddings under.
    pub fn key(&self) -> String {
        self.with_suffix(self.spec().hub_id)
    }

    /// A file-name-safe form of the name, for folders such as the ANN
    /// index's (a cache verified against the fingerprint, so a renamed alias
    /// costs a rebuild, never a wrong answer).
    pub fn folder_name(&self) -> String {
        self.name()
            .chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '@' => c,
                _ => '+',
            })
            .collect()
    }

    /// "DINOv2 ViT-B/14" or "DINOv2 ViT-B/14 @ 224 px".
    pub fn display_name(&self) -> String {
        match self.resolution {
            None => self.spec().display_name.to_string(),
            Some(r) => format!("{} @ {r} px", self.spec().display_name),
        }
    }

    /// "DINOv2" or "DINOv2@224": the name a verdict sentence uses.
    pub fn short_label(&self) -> String {
        self.with_suffix(self.spec().short_name)
    }

    /// The registry's one-line description with the input resolution.
    pub fn description(&self) -> String {
        format!("{}, {} px", self.spec().description(), self.resolution())
    }

    fn with_suffix(&self, base: &str) -> String {
        match self.resolution {
            None => base.to_string(),
            Some(r) => format!("{base}@{r}"),
        }
    }
}

impl fmt::Display for BackboneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for BackboneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackboneId({})", self.key())
    }
}

impl std::str::FromStr for BackboneId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BackboneId::parse(s)
    }
}

// Serialised as the stable key: this is what goes into fingerprints on disk.
impl Serialize for BackboneId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for BackboneId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BackboneId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list (`dino,dinov2@224`), keeping the order
/// given and dropping repeats. `all`/`both` mean the defaults.
pub fn parse_backbone_list(s: &str) -> Result<Vec<BackboneId>> {
    let t = s.trim();
    let names: Vec<&str> = if t.eq_ignore_ascii_case("both") || t.eq_ignore_ascii_case("default") {
        DEFAULT_BACKBONES.to_vec()
    } else {
        t.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    };
    let mut out: Vec<BackboneId> = Vec::new();
    for n in names {
        let id = BackboneId::parse(n)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(Error::UnknownBackbone {
            name: s.to_string(),
            known: BackboneSpec::known_list(),
        });
    }
    Ok(out)
}

/// The default backbones (`dino,dinov2`).
pub fn default_backbones() -> Vec<BackboneId> {
    DEFAULT_BACKBONES
        .iter()
        .map(|n| BackboneId::parse(n).expect("the default backbones are registered"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_hub_ids_and_resolutions_name_the_same_backbones() {
        let a = BackboneId::parse("dinov2").unwrap();
        let b = BackboneId::parse("timm/vit_base_patch14_dinov2.lvd142m").unwrap();
        let c = BackboneId::parse("DINOv2@518").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.name(), "dinov2");
        assert_eq!(a.key(), "timm/vit_base_patch14_dinov2.lvd142m");
        let d = BackboneId::parse("dinov2@224").unwrap();
        assert_ne!(a, d);
        assert_eq!(d.name(), "dinov2@224");
        assert_eq!(d.key(), "timm/vit_base_patch14_dinov2.lvd142m@224");
        assert_eq!(d.resolution(), 224);
        assert_eq!(BackboneId::parse(&d.key()).unwrap(), d);
        assert!(!d.folder_name().contains('/'));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = BackboneId::parse("clip").unwrap_err().to_string();
        assert!(
            e.contains("clip") && e.contains("dino") && e.contains("dinov2"),
            "{e}"
        );
    }

    #[test]
    fn resolutions_must_fit_the_patch_size() {
        let e = BackboneId::parse("dinov2@225").unwrap_err().to_string();
        assert!(
            e.contains("225") && e.contains("14") && e.contains("224"),
            "{e}"
        );
        let e = BackboneId::parse("dino@65536").unwrap_err().to_string();
        assert!(e.contains("2048"), "{e}");
        assert!(BackboneId::parse("dino@x").is_err());
        assert!(BackboneId::parse("dino@0").is_err());
    }

    #[test]
    fn lists_keep_order_and_drop_repeats() {
        let l = parse_backbone_list("dinov2, dino,dinov2@518,dinov2@224").unwrap();
        let names: Vec<String> = l.iter().map(|b| b.name()).collect();
        assert_eq!(names, ["dinov2", "dino", "dinov2@224"]);
        assert_eq!(parse_backbone_list("both").unwrap(), default_backbones());
    }

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(human_count(1_281_167), "1.28M");
        assert_eq!(human_count(142_000_000), "142M");
        assert_eq!(human_count(1_689_000_000), "1.69B");
    }
}
