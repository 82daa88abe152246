//! The view of `artlens map` and the web app's Map page: one panel per
//! backbone, each work's position in it, and what the pages colour and
//! label the points with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BackboneLabel, Provenance};

/// One work's place in one backbone's map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPoint {
    /// The work's id in the store.
    pub id: u64,
    /// Across, in [-1, 1] (left to right).
    pub x: f32,
    /// Down the page, in [-1, 1] (top to bottom).
    pub y: f32,
    /// The rater's rating of the work, when rated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// This backbone's head's predicted score of the work, when the rater
    /// has a trained head for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
}

/// One backbone's map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPanel {
    /// The backbone.
    pub backbone: BackboneLabel,
    /// Every work it embedded, in id order.
    pub points: Vec<MapPoint>,
    /// Trustworthiness at k = 10: the share of each work's ten nearest on
    /// the map that are also near it in the backbone's own space, weighted
    /// by how far off the others are (1 = every neighbourhood kept).
    pub trustworthiness: Option<f64>,
    /// How many times this backbone's map has been computed in this store:
    /// unchanged from one call to the next when the cached map was reused.
    pub revision: u64,
    /// Whether this call computed the layout (false: read from the store).
    pub computed: bool,
}

/// What the pages say about one work whatever the panel: its name and the
/// metadata a person can colour by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapWork {
    /// The work's id in the store.
    pub id: u64,
    /// Its title, else its file name.
    pub title: String,
    /// Its metadata (lower-case keys).
    pub metadata: BTreeMap<String, String>,
}

/// The maps of a collection, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    /// Where the maps came from.
    pub provenance: Provenance,
    /// Whose ratings and predictions the points carry.
    pub rater: String,
    /// One panel per backbone; the second and later are turned (and maybe
    /// mirrored) to match the first as closely as they can, so that a work
    /// sits in a similar place in every panel.
    pub panels: Vec<MapPanel>,
    /// Every work in some panel, in id order.
    pub works: Vec<MapWork>,
    /// The metadata keys some work has, for colouring by.
    pub keys: Vec<String>,
}
