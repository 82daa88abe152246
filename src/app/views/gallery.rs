//! The view of one gallery page: the works, the facets and ranges under the
//! current selections, and the sorts offered.

use serde::Serialize;

use super::WorkSummary;

/// One work on a gallery page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryItem {
    /// The work itself; its fields appear at the top level of the item's JSON.
    #[serde(flatten)]
    pub work: WorkSummary,
    /// What to call it: its `title`, else its file name, else `#id`.
    pub title: String,
    /// The sort backbone's predicted score, when sorting by one.
    pub predicted: Option<f64>,
}

/// One value of a [`Facet`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacetValue {
    /// The value as the metadata spells it (its most common spelling); the
    /// selection that picks it is `KEY=VALUE`.
    pub value: String,
    /// Works with this value among those matching every other selection,
    /// the search and the rated filter.
    pub count: usize,
    /// Whether the request selects it.
    pub selected: bool,
}

/// A metadata key offered as a set of chips.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facet {
    /// The metadata key (lower case), as `KEY=VALUE` names it.
    pub key: String,
    /// Selected values first, then by count (highest first), then by value.
    pub values: Vec<FacetValue>,
    /// Values with works that are not listed (beyond [`crate::app::MAX_FACET_VALUES`]).
    pub more: usize,
}

/// A metadata key offered as a numeric range (`date`, `year`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeFacet {
    /// The metadata key (lower case), as `KEY>=N` and `KEY<=N` name it.
    pub key: String,
    /// The smallest and largest number among the works matching every
    /// other selection, the search and the rated filter; `None` when none
    /// of them has one.
    pub min: Option<i64>,
    /// The largest such number; `None` when none of them has one.
    pub max: Option<i64>,
    /// The request's bounds (`KEY>=N`, `KEY<=N`), when given.
    pub from: Option<i64>,
    /// The request's upper bound (`KEY<=N`), when given.
    pub to: Option<i64>,
}

/// A sort the gallery offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortOption {
    /// What [`crate::app::GallerySort::parse`] reads.
    pub name: String,
    /// What a menu shows.
    pub label: String,
}

/// One gallery page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryView {
    /// Works matching the filters (all pages).
    pub total: usize,
    /// How many matching works come before this page.
    pub offset: usize,
    /// The most works a page holds.
    pub limit: usize,
    /// Pages of `limit` works that hold `total` (0 when nothing matches).
    pub pages: usize,
    /// The page `offset` falls on, from 1 (`offset / limit + 1`).
    pub page: usize,
    /// The sort in force, as [`SortOption::name`] spells it.
    pub sort: String,
    /// The sorts offered: `id`, `suggested`, `rating`, `rating-asc`, and
    /// `score:BACKBONE` for each backbone in `heads`.
    pub sorts: Vec<SortOption>,
    /// The search text, trimmed, when there is one.
    pub text: Option<String>,
    /// The works on this page, in the sort's order.
    pub works: Vec<GalleryItem>,
    /// Facets, with counts under the current selections.
    pub facets: Vec<Facet>,
    /// Numeric ranges (`date`, `year`), with bounds under the current
    /// selections.
    pub ranges: Vec<RangeFacet>,
    /// Works the rater has rated, in the whole collection (whatever the
    /// filters).
    pub rated_count: usize,
    /// Backbones the rater has a usable head for (the `score:` sorts offered).
    pub heads: Vec<String>,
    /// Why the order is not the one asked for, when it is not.
    pub message: Option<String>,
}
