//! The cached map of each backbone (`artlens map`): one record per
//! backbone in the `maps` tree, in the versioned [`Envelope`] every record
//! has, carrying the backbone's fingerprint and a digest of the set of
//! works laid out, so that a reader can tell a map that still holds from
//! one made before the works or the embeddings changed. The record is
//! written in one atomic batch; what it means is the map module's and the
//! application layer's business, as for every other record.

use serde::{Deserialize, Serialize};

use super::records::Envelope;
use super::Store;
use crate::error::Result;
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;

/// The tree the maps live in.
const MAPS_TREE: &str = "maps";

/// One backbone's layout as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRecord {
    /// The digest of the work ids laid out (`ann::ids_hash`): a different
    /// set of works is a different map.
    pub ids_hash: String,
    /// What the layout was made with (seed, neighbours), as a string the
    /// map module writes: other settings are another map.
    pub settings: String,
    /// How many times this backbone's map has been computed in this store,
    /// this one included: a reader that finds it unchanged knows the map
    /// was reused, not made again.
    pub revision: u64,
    /// Trustworthiness at k = 10 of this layout, when measured.
    pub trustworthiness: Option<f64>,
    /// The works, by id, in the order of `xy`.
    pub ids: Vec<u64>,
    /// Each work's position, in [-1, 1]².
    pub xy: Vec<[f32; 2]>,
}

impl Store {
    /// `backbone`'s stored map, whatever it was made from (the caller
    /// compares its fingerprint and digest with the store's).
    pub(crate) fn map_record(&self, backbone: &BackboneId) -> Result<Option<Envelope<MapRecord>>> {
        self.get_record(MAPS_TREE, &backbone.key())
    }

    /// Stores `backbone`'s map, made from embeddings with fingerprint
    /// `fingerprint`, replacing the one before in one atomic write.
    pub(crate) fn put_map_record(
        &self,
        backbone: &BackboneId,
        record: &MapRecord,
        fingerprint: Fingerprint,
    ) -> Result<()> {
        self.put_record(MAPS_TREE, &backbone.key(), record, vec![fingerprint])
    }
}
