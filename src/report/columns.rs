//! A backbone as a column of a page: its key in the view's maps, its label
//! and its colour. The pages lay their tables out by these columns and the
//! charts draw their series in the same colours, so both use this module
//! (and neither the other).

use std::collections::BTreeSet;

use crate::app::views::{BackboneLabel, Provenance};

/// Backbone colours by column (the first column gets the first colour):
/// Dark2, chosen to stay distinguishable for the common forms of colour
/// blindness. More than six columns reuse them in order.
const PALETTE: [&str; 6] = [
    "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d",
];

/// A backbone as a column of a page: its key in the view's maps, its label
/// from the provenance when one was recorded, and its colour.
pub(super) struct Column<'a> {
    pub(super) key: &'a str,
    pub(super) label: Option<&'a BackboneLabel>,
    pub(super) colour: &'static str,
}

impl Column<'_> {
    /// The display name, or the key when none is recorded.
    pub(super) fn title(&self) -> &str {
        self.label
            .map(|l| l.display_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or(self.key)
    }

    /// The one-line description; empty when none is recorded.
    pub(super) fn detail(&self) -> &str {
        self.label.map_or("", |l| l.description.as_str())
    }
}

/// The columns for `keys`: those the provenance lists, in its order, then the
/// others sorted; colours by position.
pub(super) fn columns<'a>(provenance: &'a Provenance, keys: &BTreeSet<&'a str>) -> Vec<Column<'a>> {
    let mut order: Vec<(&'a str, Option<&'a BackboneLabel>)> = Vec::new();
    for b in &provenance.backbones {
        if keys.contains(b.id.as_str()) && !order.iter().any(|(k, _)| *k == b.id) {
            order.push((b.id.as_str(), Some(b)));
        }
    }
    for k in keys {
        if !order.iter().any(|(o, _)| o == k) {
            order.push((k, None));
        }
    }
    order
        .into_iter()
        .enumerate()
        .map(|(i, (key, label))| Column {
            key,
            label,
            colour: PALETTE[i % PALETTE.len()],
        })
        .collect()
}
