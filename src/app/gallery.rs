//! The gallery: one page of the collection's works, narrowed by facet
//! selections, a numeric range, a search text and whether they are rated;
//! in id order, by your rating, by a backbone's predicted taste score, or
//! by how much a rating would help next — what the web app's grid shows,
//! and `GET /api/gallery` returns. The whole-collection parts (the listing,
//! its folded text, the facet keys, the predictions, the suggestion order)
//! are memoised per revision ([`Collection::memo`]), so a page of 60 out of
//! 10,000 works costs a pass of comparisons and a slice, not a pass over
//! sled.
//!
//! The details are in `docs/WEB_APP.md`, section "How the gallery is computed".

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::suggest::SuggestRequest;
use super::views::{
    Facet, FacetValue, GalleryItem, GalleryView, Goal, RangeFacet, SortOption, WorkSummary,
};
use super::Collection;
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::ratings::{self, Rater};
use crate::store::Artwork;

/// The most works one page may hold.
pub(crate) const MAX_PAGE: usize = 500;

/// The longest search text, in characters: far more than any title and
/// artist, and a bound on the work one request can ask for.
pub(crate) const MAX_TEXT_CHARS: usize = 200;

/// The most selections (`KEY=VALUE`, `KEY>=N`, `KEY<=N`) one request may
/// hold.
pub(crate) const MAX_FILTERS: usize = 64;

/// The most metadata keys offered as facets.
pub(crate) const MAX_FACETS: usize = 12;

/// The most values one facet lists (its most common; selected values are
/// always listed besides).
pub const MAX_FACET_VALUES: usize = 30;

/// Metadata keys never offered as facets, whatever their values: names,
/// locations and free text, which are searched instead.
const NOT_FACETS: [&str; 14] = [
    "title",
    "name",
    "path",
    "file",
    "filename",
    "url",
    "uri",
    "link",
    "hash",
    "id",
    "description",
    "notes",
    "caption",
    "comment",
];

/// The order of the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GallerySort {
    /// By id: the order works were first indexed in.
    Id,
    /// By this backbone's predicted score, highest first (its saved head
    /// for the rater; works it cannot score come last).
    Score(BackboneId),
    /// Unrated works whose rating would tell the backbones apart first
    /// (`suggest --goal verdict`), then the rest by id.
    Suggested,
    /// By the rater's own rating, highest first; unrated works last, by id.
    Rating,
    /// By the rater's own rating, lowest first; unrated works last, by id.
    /// (Unrated works *first* is the `rated=false` filter, or `suggested`.)
    RatingAsc,
    /// "What would I like most?": the works not yet rated, by the predicted
    /// score of the backbone that understands the rater's taste best (the
    /// verdict's winner, else the first with a trained head; see
    /// `Collection::taste_backbone`).
    Predicted,
}

impl GallerySort {
    /// `id`, `suggested`, `rating`, `rating-asc`, `predicted` or
    /// `score:BACKBONE` (e.g. `score:dinov2`).
    pub fn parse(s: &str) -> Result<GallerySort> {
        let s = s.trim();
        match s {
            "" | "id" => Ok(GallerySort::Id),
            "suggested" => Ok(GallerySort::Suggested),
            "rating" => Ok(GallerySort::Rating),
            "rating-asc" => Ok(GallerySort::RatingAsc),
            "predicted" => Ok(GallerySort::Predicted),
            _ => match s.strip_prefix("score:") {
                Some(b) => Ok(GallerySort::Score(BackboneId::parse(b)?)),
                None => Err(Error::InvalidArgument(format!(
                    "sort `{s}`: expected `id`, `suggested`, `rating`, `rating-asc`, \
                     `predicted` or `score:BACKBONE` (e.g. score:dinov2)"
                ))),
            },
        }
    }

    /// The spelling [`GallerySort::parse`] reads.
    pub fn name(&self) -> String {
        match self {
            GallerySort::Id => "id".into(),
            GallerySort::Suggested => "suggested".into(),
            GallerySort::Rating => "rating".into(),
            GallerySort::RatingAsc => "rating-asc".into(),
            GallerySort::Predicted => "predicted".into(),
            GallerySort::Score(b) => format!("score:{}", b.name()),
        }
    }

    /// What a sort menu calls this order.
    pub fn label(&self) -> String {
        match self {
            GallerySort::Id => "Order added".into(),
            GallerySort::Suggested => "Suggested to rate next".into(),
            GallerySort::Rating => "Your rating, highest first".into(),
            GallerySort::RatingAsc => "Your rating, lowest first".into(),
            GallerySort::Predicted => "What you would like most (not yet rated)".into(),
            GallerySort::Score(b) => format!("Predicted score ({}), highest first", b.name()),
        }
    }
}

/// What a gallery page is asked.
#[derive(Debug, Clone)]
pub struct GalleryRequest {
    /// Selections: `KEY=VALUE` (several for one key: any of them; different
    /// keys: all of them), `KEY>=N`, `KEY<=N`; at most `MAX_FILTERS`.
    /// Blank entries are ignored (an empty form field). See the module
    /// documentation.
    pub filters: Vec<String>,
    /// Words that must all occur in a work's title, file name or metadata,
    /// ignoring case and accents; at most `MAX_TEXT_CHARS` characters.
    /// `None` or blank: no search.
    pub text: Option<String>,
    /// `Some(true)`: rated works only; `Some(false)`: unrated only.
    pub rated: Option<bool>,
    /// The order of the works, applied before the page is cut.
    pub sort: GallerySort,
    /// Works skipped before the page starts, counted in `sort` order after
    /// the filters; past the end gives an empty page.
    pub offset: usize,
    /// Works on the page, 1 to `MAX_PAGE`.
    pub limit: usize,
    /// Whose ratings and heads.
    pub rater: Rater,
}

/// What to call a work in a list: its `title`, else its file name.
pub fn work_title(art: &Artwork) -> String {
    if let Some(t) = art.metadata.get("title").filter(|t| !t.trim().is_empty()) {
        return t.trim().to_string();
    }
    art.paths
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("#{}", art.id))
}

/// `s` lower-cased, with the accents of Latin letters taken off (é → e,
/// ø → o, ß → ss) and runs of white space made one space, trimmed: the
/// form in which values and searches are compared. Hand-written rather
/// than full Unicode decomposition (no dependency for it), it covers the
/// Latin-1 and Latin Extended-A letters that artists' names use, and drops
/// combining marks so decomposed input folds the same.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match unaccent(c) {
            Some(base) => out.push_str(base),
            None => out.push(c),
        }
    }
    out
}

/// The unaccented spelling of a lower-case Latin letter, if it has one.
fn unaccent(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// The first whole number in `s` (`c. 1890` → 1890, `1872–1875` → 1872),
/// the number a range selection compares.
fn first_number(s: &str) -> Option<i64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let digits: String = s[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Whether `key` is offered as a numeric range rather than as chips.
fn is_range_key(key: &str) -> bool {
    ["date", "year"].contains(&key) || key.ends_with("_date") || key.ends_with("_year")
}

/// The selections on one metadata key: any of `values` (when there are
/// some), and within the bounds (when given).
#[derive(Debug, Default, Clone, PartialEq)]
struct KeySelection {
    /// Folded values; a work matches when its folded value is one of them.
    values: Vec<String>,
    from: Option<i64>,
    to: Option<i64>,
}

impl KeySelection {
    fn holds(&self, folded: Option<&str>, number: Option<i64>) -> bool {
        if !self.values.is_empty() && !folded.is_some_and(|v| self.values.iter().any(|s| s == v)) {
            return false;
        }
        if self.from.is_some() || self.to.is_some() {
            let Some(n) = number else {
                return false;
            };
            if self.from.is_some_and(|f| n < f) || self.to.is_some_and(|t| n > t) {
                return false;
            }
        }
        true
    }
}

impl GalleryRequest {
    /// Checks the page size, the search text's length and the number of
    /// filters against their bounds (`MAX_PAGE`, `MAX_TEXT_CHARS`,
    /// `MAX_FILTERS`), worded for a person at the page.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::InvalidArgument(format!(
                "limit {}: a page holds 1 to {MAX_PAGE} works",
                self.limit
            )));
        }
        if let Some(t) = self.text.as_deref().map(str::trim) {
            let n = t.chars().count();
            if n > MAX_TEXT_CHARS {
                return Err(Error::InvalidArgument(format!(
                    "The search text is {n} characters long; type at most {MAX_TEXT_CHARS}."
                )));
            }
        }
        if self.filters.len() > MAX_FILTERS {
            return Err(Error::InvalidArgument(format!(
                "{} filters at once is more than this page takes ({MAX_FILTERS}); remove some",
                self.filters.len()
            )));
        }
        Ok(())
    }
}

/// The example a filter error shows, from the collection's own facets.
const FILTER_EXAMPLE: &str = "style=Impressionism";

/// Reads the request's selections, by key (lower case), with errors worded
/// for a person typing into a web page's filter box.
fn parse_selections(filters: &[String]) -> Result<BTreeMap<String, KeySelection>> {
    if filters.len() > MAX_FILTERS {
        return Err(Error::InvalidArgument(format!(
            "{} filters at once is more than this page takes ({MAX_FILTERS}); remove some",
            filters.len()
        )));
    }
    let mut by_key: BTreeMap<String, KeySelection> = BTreeMap::new();
    for raw in filters {
        let f = raw.trim();
        if f.is_empty() {
            continue;
        }
        let Some(at) = f.find(['=', '<', '>']) else {
            return Err(Error::InvalidArgument(format!(
                "“{f}” is not a filter. To filter, type a key, an equals sign and a value, \
                 e.g. {FILTER_EXAMPLE} (or date>=1880 for a range); to find a word in titles \
                 and artists, use the search box."
            )));
        };
        let key = f[..at].trim().to_lowercase();
        let rest = &f[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
            (">=", v)
        } else if let Some(v) = rest.strip_prefix("<=") {
            ("<=", v)
        } else if let Some(v) = rest.strip_prefix('=') {
            ("=", v)
        } else {
            return Err(Error::InvalidArgument(format!(
                "“{f}”: a range is written with >= or <=, e.g. date>=1880 or date<=1900"
            )));
        };
        let value = value.trim();
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "“{f}” has no key before “{op}”: type it as KEY{op}VALUE, e.g. {FILTER_EXAMPLE}"
            )));
        }
        if value.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "“{f}” has no value after “{op}”: type it as {key}{op}VALUE"
            )));
        }
        let sel = by_key.entry(key.clone()).or_default();
        if op == "=" {
            let v = fold(value);
            if !sel.values.contains(&v) {
                sel.values.push(v);
            }
            continue;
        }
        let n: i64 = value.parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "“{f}”: after {op} type a whole number, e.g. {key}{op}1880"
            ))
        })?;
        // Two lower bounds keep the tighter one: both must hold.
        if op == ">=" {
            sel.from = Some(sel.from.map_or(n, |m| m.max(n)));
        } else {
            sel.to = Some(sel.to.map_or(n, |m| m.min(n)));
        }
    }
    Ok(by_key)
}

/// The collection's metadata in the form filters and searches compare,
/// made once per revision.
struct Folded {
    /// The listing this was made from: indexing it with the same positions
    /// stays right even if the store changes between two memo lookups.
    arts: Arc<Vec<Artwork>>,
    /// Per work, in [`Collection::all_artworks`] order: each metadata key
    /// (lower case) and its folded value, empty values left out.
    values: Vec<HashMap<String, String>>,
    /// Per work: each metadata key with the first whole number in its
    /// value, for range selections.
    numbers: Vec<HashMap<String, i64>>,
    /// Per work: its folded title and metadata values, one per line, the
    /// text a search looks in.
    text: Vec<String>,
    /// Chip facets' keys, best first.
    facet_keys: Vec<String>,
    /// Range keys, by name.
    range_keys: Vec<String>,
    /// Per key and folded value: how the metadata most often spells it.
    spelling: HashMap<String, HashMap<String, String>>,
    /// Per key: its folded values with their number of works, most first.
    key_values: BTreeMap<String, Vec<(String, usize)>>,
}

/// How many works have one folded value of a key, and how many spell it
/// each way.
type ValueTally = (usize, HashMap<String, usize>);

impl Folded {
    fn new(arts: Arc<Vec<Artwork>>) -> Folded {
        let mut values = Vec::with_capacity(arts.len());
        let mut numbers = Vec::with_capacity(arts.len());
        let mut text = Vec::with_capacity(arts.len());
        // key → folded value → (works, spelling → works)
        let mut seen: BTreeMap<String, HashMap<String, ValueTally>> = BTreeMap::new();
        for art in arts.iter() {
            let mut mine = HashMap::new();
            let mut nums = HashMap::new();
            let mut haystack = fold(&work_title(art));
            for (k, v) in &art.metadata {
                let (key, raw) = (k.trim().to_lowercase(), v.trim());
                let folded = fold(raw);
                if folded.is_empty() {
                    continue;
                }
                haystack.push('\n');
                haystack.push_str(&folded);
                let entry = seen
                    .entry(key.clone())
                    .or_default()
                    .entry(folded.clone())
                    .or_default();
                entry.0 += 1;
                *entry.1.entry(raw.to_string()).or_default() += 1;
                if let Some(n) = first_number(raw) {
                    nums.insert(key.clone(), n);
                }
                mine.insert(key, folded);
            }
            values.push(mine);
            numbers.push(nums);
            text.push(haystack);
        }
        let mut spelling = HashMap::new();
        let mut key_values = BTreeMap::new();
        let mut candidates: Vec<(usize, String)> = Vec::new();
        let mut range_keys = Vec::new();
        for (key, vals) in seen {
            let works: usize = vals.values().map(|(n, _)| n).sum();
            let mut counted: Vec<(String, usize)> =
                vals.iter().map(|(v, (n, _))| (v.clone(), *n)).collect();
            counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let spelled: HashMap<String, String> = vals
                .into_iter()
                .map(|(v, (_, spellings))| {
                    let best = spellings
                        .into_iter()
                        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                        .map(|(s, _)| s)
                        .unwrap_or_else(|| v.clone());
                    (v, best)
                })
                .collect();
            if is_range_key(&key) {
                range_keys.push(key.clone());
            } else if !NOT_FACETS.contains(&key.as_str())
                && counted.len() >= 2
                && counted.len() * 2 <= works
            {
                // Values that repeat: on average each names two works or more.
                candidates.push((works, key.clone()));
            }
            spelling.insert(key.clone(), spelled);
            key_values.insert(key, counted);
        }
        // The keys most works have first: they split the whole collection.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let facet_keys = candidates
            .into_iter()
            .take(MAX_FACETS)
            .map(|(_, k)| k)
            .collect();
        Folded {
            arts,
            values,
            numbers,
            text,
            facet_keys,
            range_keys,
            spelling,
            key_values,
        }
    }

    /// Fails on a selection that names a key no work has, or a value no
    /// work has, saying which exist: a typo should not look like an empty
    /// collection.
    fn check(&self, selections: &BTreeMap<String, KeySelection>) -> Result<()> {
        const LISTED: usize = 10;
        for (key, sel) in selections {
            let Some(values) = self.key_values.get(key) else {
                let mut keys: Vec<&str> = self.key_values.keys().map(String::as_str).collect();
                let more = keys.len().saturating_sub(LISTED);
                keys.truncate(LISTED);
                return Err(Error::InvalidArgument(if keys.is_empty() {
                    format!("No work has a “{key}”: this collection has no metadata to filter by.")
                } else {
                    format!(
                        "No work has a “{key}”. You can filter by: {}{}.",
                        keys.join(", "),
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        }
                    )
                }));
            };
            for v in &sel.values {
                if values.iter().any(|(have, _)| have == v) {
                    continue;
                }
                let spelled = self.spelling.get(key);
                let mut some: Vec<&str> = values
                    .iter()
                    .take(LISTED)
                    .filter_map(|(v, _)| spelled.and_then(|s| s.get(v)).map(String::as_str))
                    .collect();
                if values.len() > LISTED {
                    some.push("…");
                }
                return Err(Error::InvalidArgument(format!(
                    "No work has {key} “{v}”. Its values include: {}.",
                    some.join(", ")
                )));
            }
        }
        Ok(())
    }
}

impl Collection {
    /// Every artwork, by id, memoised per revision.
    pub(crate) fn all_artworks(&self) -> Result<Arc<Vec<Artwork>>> {
        self.memo("artworks", || self.store().artworks())
    }

    /// Each artwork's position in [`Collection::all_artworks`], by id.
    pub(crate) fn artwork_positions(&self) -> Result<Arc<HashMap<u64, usize>>> {
        self.memo("artwork_positions", || {
            Ok(self
                .all_artworks()?
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id, i))
                .collect())
        })
    }

    /// `rater`'s ratings by content hash, memoised per revision.
    pub(crate) fn rating_map(&self, rater: &Rater) -> Result<Arc<HashMap<String, f64>>> {
        self.memo(&format!("ratings:{}", rater.name()), || {
            Ok(ratings::ratings_of(self.store(), rater)?
                .into_iter()
                .collect())
        })
    }

    /// Backbone `id`'s predicted score of every work it embedded, by work
    /// id, from `rater`'s saved head ([`Error::NoHead`] without one).
    pub(crate) fn predictions(
        &self,
        id: &BackboneId,
        rater: &Rater,
    ) -> Result<Arc<HashMap<u64, f64>>> {
        self.memo(
            &format!("predictions:{}:{}", id.name(), rater.name()),
            || {
                let (head, _) = crate::head::load_head_of(self.store(), rater, id)?;
                Ok(self
                    .store()
                    .embeddings(id)?
                    .into_iter()
                    .map(|(work, _, v)| (work, head.predict_f64(&v)))
                    .collect())
            },
        )
    }

    /// The backbone whose predictions answer "what would I like most": the
    /// verdict's winner when the answer names one, else the first backbone
    /// (along the data ladder) with a trained head for `rater`
    /// ([`Error::NoHead`] naming the first backbone when none has one).
    pub(crate) fn taste_backbone(&self, rater: &Rater) -> Result<BackboneId> {
        if let Some(w) = self.answer(rater)?.winner {
            if let Ok(id) = BackboneId::parse(&w) {
                if crate::head::load_head_of(&self.store, rater, &id).is_ok() {
                    return Ok(id);
                }
            }
        }
        let mut stored = self.store.backbones()?;
        stored.sort_by_key(BackboneId::ladder_key);
        let mut first_error = None;
        for b in stored {
            match crate::head::load_head_of(&self.store, rater, &b) {
                Ok(_) => return Ok(b),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::NothingIndexed {
            store: self.store.path().to_path_buf(),
        }))
    }

    /// The folded metadata and facet keys of every work, memoised per
    /// revision.
    fn folded(&self) -> Result<Arc<Folded>> {
        self.memo("gallery_folded", || Ok(Folded::new(self.all_artworks()?)))
    }

    /// One page of the gallery.
    pub fn gallery(&self, req: &GalleryRequest) -> Result<GalleryView> {
        req.validate()?;
        let text = req.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let words: Vec<String> = text
            .map(|t| fold(t).split(' ').map(str::to_string).collect())
            .unwrap_or_default();
        let selections = parse_selections(&req.filters)?;
        let folded = self.folded()?;
        let arts = &folded.arts;
        folded.check(&selections)?;
        let rated = self.rating_map(&req.rater)?;

        // Each work that passes the search and the rated filter is checked
        // against every key's selection. One that fails none is on the page
        // and counts in every facet; one that fails exactly one key's counts
        // only in that key's facet (standard faceting: a key's counts ignore
        // its own selection); one that fails two counts nowhere.
        let facet_keys: Vec<&String> = folded.facet_keys.iter().chain(&folded.range_keys).collect();
        let mut counts: Vec<HashMap<&str, usize>> = vec![HashMap::new(); facet_keys.len()];
        let mut bounds: Vec<Option<(i64, i64)>> = vec![None; facet_keys.len()];
        let mut chosen: Vec<&Artwork> = Vec::new();
        // "What would I like most" is about the works not yet rated.
        let rated_filter = match req.sort {
            GallerySort::Predicted => Some(false),
            _ => req.rated,
        };
        for (i, a) in arts.iter().enumerate() {
            if rated_filter.is_some_and(|want| rated.contains_key(&a.hash) != want) {
                continue;
            }
            if !words.iter().all(|w| folded.text[i].contains(w.as_str())) {
                continue;
            }
            let values = &folded.values[i];
            let numbers = &folded.numbers[i];
            let mut failed: Option<&str> = None;
            let mut failures = 0;
            for (key, sel) in &selections {
                if !sel.holds(
                    values.get(key).map(String::as_str),
                    numbers.get(key).copied(),
                ) {
                    failures += 1;
                    failed = Some(key);
                    if failures > 1 {
                        break;
                    }
                }
            }
            if failures > 1 {
                continue;
            }
            if failures == 0 {
                chosen.push(a);
            }
            for (f, key) in facet_keys.iter().enumerate() {
                if failed.is_some_and(|k| k != key.as_str()) {
                    continue;
                }
                if let Some(v) = values.get(key.as_str()) {
                    *counts[f].entry(v.as_str()).or_default() += 1;
                }
                if let Some(&n) = numbers.get(key.as_str()) {
                    bounds[f] = Some(bounds[f].map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))));
                }
            }
        }
        let none = KeySelection::default();
        let mut facets = Vec::new();
        let mut ranges = Vec::new();
        for (f, key) in facet_keys.iter().enumerate() {
            let sel = selections.get(key.as_str()).unwrap_or(&none);
            if f >= folded.facet_keys.len() {
                let (min, max) = bounds[f].map_or((None, None), |(lo, hi)| (Some(lo), Some(hi)));
                ranges.push(RangeFacet {
                    key: key.to_string(),
                    min,
                    max,
                    from: sel.from,
                    to: sel.to,
                });
                continue;
            }
            facets.push(facet(key, &counts[f], sel, &folded.spelling));
        }

        let heads = self.memo(&format!("heads:{}", req.rater.name()), || {
            Ok(self
                .store()
                .backbones()?
                .into_iter()
                .filter(|b| crate::head::load_head_of(self.store(), &req.rater, b).is_ok())
                .map(|b| b.name())
                .collect::<Vec<String>>())
        })?;
        let mut message = None;
        let mut predicted: Option<Arc<HashMap<u64, f64>>> = None;
        match &req.sort {
            GallerySort::Id => {}
            GallerySort::Score(b) => match self.predictions(b, &req.rater) {
                Ok(p) => {
                    sort_by_value(&mut chosen, |a| p.get(&a.id).copied(), true);
                    predicted = Some(p);
                }
                Err(e) => message = Some(format!("not sorted by {}: {e}", b.name())),
            },
            GallerySort::Predicted => {
                match self
                    .taste_backbone(&req.rater)
                    .and_then(|b| self.predictions(&b, &req.rater))
                {
                    Ok(p) => {
                        sort_by_value(&mut chosen, |a| p.get(&a.id).copied(), true);
                        predicted = Some(p);
                    }
                    Err(e) => message = Some(format!("not sorted by prediction: {e}")),
                }
            }
            GallerySort::Rating | GallerySort::RatingAsc => {
                let highest_first = req.sort == GallerySort::Rating;
                sort_by_value(&mut chosen, |a| rated.get(&a.hash).copied(), highest_first);
            }
            GallerySort::Suggested => match self.suggestion_rank(&req.rater) {
                Ok(rank) => {
                    chosen.sort_by_key(|a| (rank.get(&a.id).copied().unwrap_or(usize::MAX), a.id))
                }
                Err(e) => message = Some(format!("not sorted by suggestion: {e}")),
            },
        }
        let mut sorts = vec![
            GallerySort::Id,
            GallerySort::Suggested,
            GallerySort::Rating,
            GallerySort::RatingAsc,
        ];
        if !heads.is_empty() {
            sorts.push(GallerySort::Predicted);
        }
        sorts.extend(
            heads
                .iter()
                .filter_map(|h| BackboneId::parse(h).ok())
                .map(GallerySort::Score),
        );
        let total = chosen.len();
        let works = chosen
            .into_iter()
            .skip(req.offset)
            .take(req.limit)
            .map(|a| GalleryItem {
                title: work_title(a),
                predicted: predicted.as_ref().and_then(|p| p.get(&a.id).copied()),
                work: WorkSummary {
                    id: a.id,
                    hash: a.hash.clone(),
                    path: a.paths.first().cloned(),
                    metadata: a.metadata.clone(),
                    rating: rated.get(&a.hash).copied(),
                    predicted: None,
                    predicted_by: None,
                },
            })
            .collect();
        Ok(GalleryView {
            total,
            offset: req.offset,
            limit: req.limit,
            pages: total.div_ceil(req.limit),
            page: req.offset / req.limit + 1,
            sort: req.sort.name(),
            sorts: sorts
                .iter()
                .map(|s| SortOption {
                    name: s.name(),
                    label: s.label(),
                })
                .collect(),
            text: text.map(str::to_string),
            works,
            facets,
            ranges,
            rated_count: arts.iter().filter(|a| rated.contains_key(&a.hash)).count(),
            heads: heads.as_ref().clone(),
            message,
        })
    }

    /// Each unrated work's place in `suggest --goal verdict`'s order.
    fn suggestion_rank(&self, rater: &Rater) -> Result<Arc<HashMap<u64, usize>>> {
        self.memo(&format!("suggested:{}", rater.name()), || {
            let n = self.all_artworks()?.len().max(1);
            let view = self.suggest(&SuggestRequest {
                n,
                goal: Goal::Verdict,
                rater: rater.clone(),
                backbones: None,
            })?;
            Ok(view
                .works
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id, i))
                .collect())
        })
    }
}

/// Sorts by `value`, highest first or lowest first; works without one come
/// last, by id, and ties are broken by id.
fn sort_by_value(
    works: &mut [&Artwork],
    value: impl Fn(&Artwork) -> Option<f64>,
    highest_first: bool,
) {
    works.sort_by(|x, y| match (value(x), value(y)) {
        (Some(a), Some(b)) => {
            let order = if highest_first {
                b.total_cmp(&a)
            } else {
                a.total_cmp(&b)
            };
            order.then(x.id.cmp(&y.id))
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => x.id.cmp(&y.id),
    });
}

/// The facet of `key` from its counts (by folded value) and its selection:
/// selected values first, then the most common up to [`MAX_FACET_VALUES`].
fn facet(
    key: &str,
    counts: &HashMap<&str, usize>,
    sel: &KeySelection,
    spelling: &HashMap<String, HashMap<String, String>>,
) -> Facet {
    let spelled = |v: &str| {
        spelling
            .get(key)
            .and_then(|s| s.get(v))
            .cloned()
            .unwrap_or_else(|| v.to_string())
    };
    let mut values: Vec<FacetValue> = sel
        .values
        .iter()
        .map(|v| FacetValue {
            value: spelled(v),
            count: counts.get(v.as_str()).copied().unwrap_or(0),
            selected: true,
        })
        .collect();
    let mut others: Vec<(&str, usize)> = counts
        .iter()
        .filter(|(v, _)| !sel.values.iter().any(|s| s == *v))
        .map(|(v, n)| (*v, *n))
        .collect();
    others.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let room = MAX_FACET_VALUES.saturating_sub(values.len());
    let more = others.len().saturating_sub(room);
    values.extend(others.into_iter().take(room).map(|(v, count)| FacetValue {
        value: spelled(v),
        count,
        selected: false,
    }));
    Facet {
        key: key.to_string(),
        values,
        more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::WeightsConfig;
    use crate::store::NewArtwork;

    /// A store of works with these metadata rows (`key=value` pairs split
    /// by `;`), no embeddings; row `i`'s content hash is `i` in hex.
    fn collection(dir: &std::path::Path, rows: &[&str]) -> Collection {
        let c = Collection::create(&dir.join("store"), WeightsConfig::default()).unwrap();
        for (i, row) in rows.iter().enumerate() {
            let metadata = row
                .split(';')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            c.store()
                .record_image(
                    &NewArtwork {
                        hash: format!("{i:064x}"),
                        paths: vec![dir.join(format!("w{i}.png")).to_string_lossy().into()],
                        size: 1,
                        width: 1,
                        height: 1,
                        metadata,
                    },
                    &[],
                )
                .unwrap();
        }
        c
    }

    /// Nine works: three styles, three artists (one of them with accents
    /// spelled two ways), dates in several spellings, unique titles.
    const ROWS: [&str; 9] = [
        "title=Water Lilies;artist=Claude Monet;style=Impressionism;date=1899",
        "title=Haystacks;artist=Claude Monet;style=Impressionism;date=c. 1890",
        "title=Rouen Cathedral;artist=Claude Monet;style=Impressionism;date=1892-1894",
        "title=Mont Sainte-Victoire;artist=Paul Cézanne;style=Post-Impressionism;date=1887",
        "title=The Card Players;artist=Paul Cezanne;style=Post-Impressionism;date=1894",
        "title=Still Life;artist=Paul Cézanne;style=Post-Impressionism",
        "title=Guernica;artist=Pablo Picasso;style=Cubism;date=1937",
        "title=Les Demoiselles;artist=Pablo Picasso;style=Cubism;date=1907",
        "title=Three Musicians;artist=Pablo Picasso;style=cubism;date=1921",
    ];

    fn request(filters: &[&str], text: Option<&str>) -> GalleryRequest {
        GalleryRequest {
            filters: filters.iter().map(|f| f.to_string()).collect(),
            text: text.map(str::to_string),
            rated: None,
            sort: GallerySort::Id,
            offset: 0,
            limit: 50,
            rater: Rater::default(),
        }
    }

    /// The rows of a page's works, in order.
    fn ids(view: &GalleryView) -> Vec<u64> {
        view.works
            .iter()
            .map(|w| u64::from_str_radix(&w.work.hash, 16).unwrap())
            .collect()
    }

    fn facet<'a>(view: &'a GalleryView, key: &str) -> &'a Facet {
        view.facets
            .iter()
            .find(|f| f.key == key)
            .unwrap_or_else(|| panic!("no facet {key}: {:?}", view.facets))
    }

    fn count(f: &Facet, value: &str) -> Option<(usize, bool)> {
        f.values
            .iter()
            .find(|v| v.value == value)
            .map(|v| (v.count, v.selected))
    }

    #[test]
    fn fold_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  Paul   CÉZANNE "), "paul cezanne");
        assert_eq!(fold("Dürer Øre Straße Œuvre"), "durer ore strasse oeuvre");
        // A decomposed é (e + combining acute) folds like the composed one.
        assert_eq!(fold("Ce\u{301}zanne"), "cezanne");
    }

    #[test]
    fn selections_are_any_within_a_key_and_all_across_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        let one_style = c.gallery(&request(&["style=Cubism"], None)).unwrap();
        // Case is ignored: "cubism" is the same value.
        assert_eq!(ids(&one_style), [6, 7, 8]);
        let two_styles = c
            .gallery(&request(&["style=Cubism", "style=impressionism"], None))
            .unwrap();
        assert_eq!(ids(&two_styles), [0, 1, 2, 6, 7, 8]);
        let and_artist = c
            .gallery(&request(
                &[
                    "style=Cubism",
                    "style=Impressionism",
                    "artist=Pablo Picasso",
                ],
                None,
            ))
            .unwrap();
        assert_eq!(ids(&and_artist), [6, 7, 8]);
        // Accents are ignored in values too: both spellings of Cézanne.
        let cezanne = c.gallery(&request(&["artist=paul cezanne"], None)).unwrap();
        assert_eq!(ids(&cezanne), [3, 4, 5]);
        // A blank entry (an empty form field) is no selection.
        assert_eq!(c.gallery(&request(&[" "], None)).unwrap().total, 9);
    }

    #[test]
    fn facet_counts_leave_out_their_own_selection() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        let all = c.gallery(&request(&[], None)).unwrap();
        let keys: Vec<&str> = all.facets.iter().map(|f| f.key.as_str()).collect();
        // Titles are all different and dates are a range: neither is chips.
        assert_eq!(keys, ["artist", "style"]);
        assert_eq!(
            count(facet(&all, "style"), "Impressionism"),
            Some((3, false))
        );
        // The most common spelling names a value.
        assert_eq!(
            count(facet(&all, "artist"), "Paul Cézanne"),
            Some((3, false))
        );
        assert_eq!(count(facet(&all, "style"), "Cubism"), Some((3, false)));

        let v = c
            .gallery(&request(&["style=Impressionism", "date>=1890"], None))
            .unwrap();
        assert_eq!(ids(&v), [0, 1, 2]);
        let style = facet(&v, "style");
        // Style's counts ignore the style selection but keep the date range:
        // the selected value comes first, the others say what they would add.
        assert_eq!(style.values[0].value, "Impressionism");
        assert_eq!(count(style, "Impressionism"), Some((3, true)));
        assert_eq!(count(style, "Post-Impressionism"), Some((1, false)));
        assert_eq!(count(style, "Cubism"), Some((3, false)));
        // Artist's counts keep the style selection.
        let artist = facet(&v, "artist");
        assert_eq!(count(artist, "Claude Monet"), Some((3, false)));
        assert_eq!(count(artist, "Pablo Picasso"), None, "{artist:?}");
        // The date range's bounds are over the works matching the style.
        assert_eq!(
            v.ranges,
            [RangeFacet {
                key: "date".into(),
                min: Some(1890),
                max: Some(1899),
                from: Some(1890),
                to: None,
            }]
        );
    }

    #[test]
    fn ranges_read_the_first_number_and_skip_works_without_one() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        let v = c
            .gallery(&request(&["date>=1890", "date <= 1900"], None))
            .unwrap();
        // "c. 1890" is 1890, "1892-1894" is 1892; the undated still life
        // (5) is out.
        assert_eq!(ids(&v), [0, 1, 2, 4]);
        let v = c.gallery(&request(&["date<=1900"], None)).unwrap();
        assert_eq!(ids(&v), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn search_needs_every_word_ignoring_case_and_accents() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        let find = |t: &str| ids(&c.gallery(&request(&[], Some(t))).unwrap());
        assert_eq!(find("CEZANNE"), [3, 4, 5]);
        assert_eq!(find("cézanne card"), [4]);
        assert_eq!(find("monet  water"), [0]);
        assert_eq!(find("monet guernica"), Vec::<u64>::new());
        // Other metadata is searched too (a style, a year).
        assert_eq!(find("cubism 1937"), [6]);
        assert_eq!(find("   "), (0..9).collect::<Vec<u64>>());
        let v = c
            .gallery(&request(&["style=Cubism"], Some("demoiselles")))
            .unwrap();
        assert_eq!((ids(&v), v.text.as_deref()), (vec![7], Some("demoiselles")));
        // The search narrows the facet counts.
        assert_eq!(count(facet(&v, "style"), "Impressionism"), None);
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        let err = c.gallery(&request(&[], Some(&long))).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains(&MAX_TEXT_CHARS.to_string())),
            "{err}"
        );
    }

    #[test]
    fn bad_selections_say_what_to_type_without_command_flags() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        let message = |f: &str| match c.gallery(&request(&[f], None)) {
            Err(Error::InvalidArgument(m)) => {
                assert!(!m.contains("--"), "no command-line flags: {m}");
                m
            }
            other => panic!("{f}: expected an invalid argument, got {other:?}"),
        };
        let m = message("Impressionism");
        assert!(m.contains("“Impressionism” is not a filter"), "{m}");
        assert!(
            m.contains("style=Impressionism") && m.contains("search box"),
            "{m}"
        );
        let m = message("stlye=Cubism");
        assert!(
            m.contains("stlye") && m.contains("artist, date, style, title"),
            "{m}"
        );
        let m = message("style=Cubsim");
        assert!(m.contains("cubsim") && m.contains("Cubism"), "{m}");
        let m = message("date>=eighteen");
        assert!(
            m.contains("whole number") && m.contains("date>=1880"),
            "{m}"
        );
        assert!(message("date>1880").contains(">="));
        assert!(message("=Cubism").contains("no key"));
        assert!(message("style=").contains("no value"));
        let many: Vec<String> = (0..=MAX_FILTERS).map(|_| "style=Cubism".into()).collect();
        let mut req = request(&[], None);
        req.filters = many;
        assert!(matches!(c.gallery(&req), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn rating_sorts_pages_and_the_rated_count() {
        let tmp = tempfile::tempdir().unwrap();
        let c = collection(tmp.path(), &ROWS);
        for (row, score) in [(4u64, 9.0), (1, 3.0), (7, 6.0)] {
            let art = c.store().artwork(&format!("{row:064x}")).unwrap().unwrap();
            c.rate_set_as(&Rater::default(), &art.id.to_string(), score)
                .unwrap();
        }
        let mut req = request(&[], None);
        req.sort = GallerySort::parse("rating").unwrap();
        let v = c.gallery(&req).unwrap();
        // Highest first, then the unrated by id.
        assert_eq!(ids(&v), [4, 7, 1, 0, 2, 3, 5, 6, 8]);
        assert_eq!(v.works[0].work.rating, Some(9.0));
        req.sort = GallerySort::parse("rating-asc").unwrap();
        assert_eq!(ids(&c.gallery(&req).unwrap())[..4], [1, 7, 4, 0]);
        assert_eq!(req.sort.name(), "rating-asc");
        let names: Vec<String> = v.sorts.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["id", "suggested", "rating", "rating-asc"]);

        // Pages of 4: nine works make three; offset 4 is the second page.
        req.filters = vec![];
        req.limit = 4;
        req.offset = 4;
        let v = c.gallery(&req).unwrap();
        assert_eq!((v.pages, v.page, v.works.len()), (3, 2, 4));
        // The rated count is the whole collection's, whatever the filters.
        req.filters = vec!["style=Cubism".into()];
        req.rated = Some(false);
        let v = c.gallery(&req).unwrap();
        assert_eq!((v.total, v.pages, v.rated_count), (2, 1, 3));
        req.text = Some("nothing like this".into());
        let v = c.gallery(&req).unwrap();
        assert_eq!((v.total, v.pages, v.page), (0, 0, 2));
    }
}
