//! Words: searching works by text, and describing a person's taste in words,
//! as pure functions over vectors of a joint image–text space.
//!
//! Three parts. **Queries** (`artlens search "stormy sea" +work:12
//! -"people"`): [`parse_query`] reads a query into signed, weighted terms,
//! and [`combine`] turns their vectors into the one vector searched with.
//! **The vocabulary** ([`Vocabulary`]): a few hundred art-concept phrases
//! compiled in, extendable from a file, deduplicated. **Taste in words**
//! ([`taste_in_words`]): each phrase's score across the rated works is
//! compared with the ratings (Spearman), with an honest held-out figure
//! (the phrase chosen inside cross-validation folds) and a permutation test
//! of the best phrase that stays calibrated however many phrases are looked
//! at. The method, its calibration and its power are written down in
//! [STATISTICS.md](../../docs/STATISTICS.md#taste-in-words).
//!
//! This module never opens a store or runs a model: the text towers come in
//! through the [`JointSpace`] trait, so the statistics are tested on plain
//! vectors too.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::head::average_ranks;
use crate::head::spearman;
use crate::head::{fold_assignment, mix, SplitMix64};
use crate::limits::{
    MAX_PHRASE_CHARS, MAX_QUERY_CHARS, MAX_QUERY_TERMS, MAX_QUERY_WEIGHT, MAX_VOCABULARY,
};

/// The built-in vocabulary, one phrase a line (`#` lines are headings).
pub const BUILTIN_VOCABULARY: &str = include_str!("vocabulary.txt");

/// The weight of a term to move away from (`-"people"`) when none is
/// given: half a positive term's, for the reason `similar --not` weighs
/// its works by half (Rocchio's relevance feedback): a work is unlike many
/// things, so "not this" says less than "like this".
pub const DEFAULT_NEGATIVE_WEIGHT: f32 = 0.5;

/// A space where text and images can be compared: a backbone's text tower
/// with the projection of its image embeddings.
pub trait JointSpace {
    /// Each text's L2-normalised vector in the joint space, and whether the
    /// tokenizer cut it to the tower's context.
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<TextVector>>;
    /// A stored image embedding carried into the joint space (not
    /// necessarily normalised).
    fn project_image(&self, stored: &[f32]) -> Vec<f32>;
}

impl JointSpace for crate::model::text::TextTower {
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<TextVector>> {
        Ok(crate::model::text::TextTower::embed_texts(self, texts)?
            .into_iter()
            .map(|e| TextVector {
                vector: e.vector,
                truncated: e.truncated,
            })
            .collect())
    }

    fn project_image(&self, stored: &[f32]) -> Vec<f32> {
        crate::model::text::TextTower::project_image(self, stored)
    }
}

/// One text's vector in a joint space.
#[derive(Debug, Clone, PartialEq)]
pub struct TextVector {
    /// L2-normalised.
    pub vector: Vec<f32>,
    /// The text was longer than the tower's context and was cut.
    pub truncated: bool,
}

/// What one query term points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermTarget {
    /// A phrase, embedded by the text tower.
    Text(String),
    /// A stored work, named as every command names one (id, hash prefix,
    /// path, file name).
    Work(String),
}

/// One term of a query: what it points at and its signed weight (negative:
/// move away from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryTerm {
    /// The phrase or the work.
    pub target: TermTarget,
    /// Positive to move towards, negative to move away from.
    pub weight: f32,
}

impl QueryTerm {
    /// The term as a person would type it back: `"stormy sea"`,
    /// `-work:12:0.5`.
    pub fn shown(&self) -> String {
        let sign = if self.weight < 0.0 { "-" } else { "" };
        let body = match &self.target {
            TermTarget::Text(t) => format!("\"{t}\""),
            TermTarget::Work(w) if w.contains(char::is_whitespace) => format!("work:\"{w}\""),
            TermTarget::Work(w) => format!("work:{w}"),
        };
        let default = if self.weight < 0.0 {
            DEFAULT_NEGATIVE_WEIGHT
        } else {
            1.0
        };
        if (self.weight.abs() - default).abs() < f32::EPSILON {
            format!("{sign}{body}")
        } else {
            format!("{sign}{body}:{}", self.weight.abs())
        }
    }
}

/// Reads a search query into its terms.
///
/// The grammar, rclip's with works beside phrases: bare words make one
/// phrase (`a stormy sea at night`); a quoted phrase is one term
/// (`"stormy sea"`); `work:NAME` (or `work:"NAME WITH SPACES"`) is a stored
/// work; a `+` or `-` right before a term moves towards or away from it (a
/// signed bare word is a term of its own); `:W` right after a term weighs
/// it (`"sea":2`, `work:12:0.5`, `stormy sea:2` weighs the phrase it
/// ends). At least one term must move towards something.
pub(crate) fn parse_query(query: &str) -> Result<Vec<QueryTerm>> {
    let shown: String = query.chars().take(80).collect();
    let bad = |reason: String| Error::BadQuery {
        query: shown.clone(),
        reason,
    };
    if query.trim().is_empty() {
        return Err(bad("the query is empty: say what to look for".into()));
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(bad(format!(
            "{chars} characters is longer than the {MAX_QUERY_CHARS} a query may have"
        )));
    }
    if query.chars().any(char::is_control)
        && query
            .chars()
            .any(|c| c != '\n' && c != '\t' && c.is_control())
    {
        return Err(bad("control characters are not text to search for".into()));
    }
    let s: Vec<char> = query.chars().collect();
    let mut terms: Vec<QueryTerm> = Vec::new();
    // Unsigned bare words gather into one phrase until another term comes.
    let mut pending: Vec<String> = Vec::new();
    let flush = |pending: &mut Vec<String>, terms: &mut Vec<QueryTerm>, weight: f32| {
        if !pending.is_empty() {
            terms.push(QueryTerm {
                target: TermTarget::Text(pending.join(" ")),
                weight,
            });
            pending.clear();
        }
    };
    let mut i = 0;
    while i < s.len() {
        if s[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut sign = 0f32;
        if (s[i] == '+' || s[i] == '-') && i + 1 < s.len() && !s[i + 1].is_whitespace() {
            sign = if s[i] == '+' { 1.0 } else { -1.0 };
            i += 1;
        } else if s[i] == '+' || s[i] == '-' {
            return Err(bad(format!("`{}` with nothing right after it", s[i])));
        }
        // The term's body: a quoted phrase, a work, or a bare word.
        let (target, bare, end) = if s[i] == '"' {
            let (text, end) = quoted(&s, i).ok_or_else(|| bad("a quote is not closed".into()))?;
            let text = collapse(&text);
            if text.is_empty() {
                return Err(bad("an empty phrase `\"\"`".into()));
            }
            (TermTarget::Text(text), false, end)
        } else {
            let mut end = i;
            while end < s.len() && !s[end].is_whitespace() && s[end] != '"' {
                end += 1;
            }
            let word: String = s[i..end].iter().collect();
            if word.len() >= 5 && word[..5].eq_ignore_ascii_case("work:") {
                let rest = &word[5..];
                if rest.is_empty() && end < s.len() && s[end] == '"' {
                    let (name, e) =
                        quoted(&s, end).ok_or_else(|| bad("a quote is not closed".into()))?;
                    (TermTarget::Work(name.trim().to_string()), false, e)
                } else {
                    (TermTarget::Work(rest.to_string()), false, end)
                }
            } else {
                (TermTarget::Text(word), true, end)
            }
        };
        i = end;
        // A weight: `:W` right after a quoted term, or the last `:W` of a
        // bare word or a work name when W reads as a number.
        let mut weight: Option<f32> = None;
        let mut target = target;
        if i < s.len() && s[i] == ':' {
            let mut e = i + 1;
            while e < s.len() && !s[e].is_whitespace() {
                e += 1;
            }
            let w: String = s[i + 1..e].iter().collect();
            weight = Some(w.parse::<f32>().map_err(|_| {
                bad(format!(
                    "`:{w}` after a term must be a weight, e.g. `\"sea\":2`"
                ))
            })?);
            i = e;
        }
        if weight.is_none() {
            let (TermTarget::Text(w) | TermTarget::Work(w)) = &mut target;
            if let Some((head, tail)) = w.rsplit_once(':') {
                if let Ok(x) = tail.parse::<f32>() {
                    if !head.is_empty() {
                        weight = Some(x);
                        *w = head.to_string();
                    }
                }
            }
        }
        if let TermTarget::Work(w) = &target {
            if w.is_empty() {
                return Err(bad("`work:` must name a work, e.g. `work:12`".into()));
            }
        }
        if let Some(w) = weight {
            if !(w.is_finite() && w > 0.0 && w <= MAX_QUERY_WEIGHT) {
                return Err(bad(format!(
                    "weight {w}: a weight is a number above 0 and at most {MAX_QUERY_WEIGHT} (a `-` before the term moves away from it)"
                )));
            }
        }
        match (bare, sign == 0.0, &target) {
            (true, true, TermTarget::Text(word)) => {
                pending.push(word.clone());
                if let Some(w) = weight {
                    flush(&mut pending, &mut terms, w);
                }
            }
            _ => {
                flush(&mut pending, &mut terms, 1.0);
                let w = match (sign < 0.0, weight) {
                    (true, Some(w)) => -w,
                    (true, None) => -DEFAULT_NEGATIVE_WEIGHT,
                    (false, Some(w)) => w,
                    (false, None) => 1.0,
                };
                terms.push(QueryTerm { target, weight: w });
            }
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(bad(format!(
                "more than {MAX_QUERY_TERMS} terms; a query may have at most {MAX_QUERY_TERMS}"
            )));
        }
    }
    flush(&mut pending, &mut terms, 1.0);
    if terms.len() > MAX_QUERY_TERMS {
        return Err(bad(format!(
            "more than {MAX_QUERY_TERMS} terms; a query may have at most {MAX_QUERY_TERMS}"
        )));
    }
    if !terms.iter().any(|t| t.weight > 0.0) {
        return Err(bad(
            "every term moves away from something: say what to look for too".into(),
        ));
    }
    Ok(terms)
}

/// The text between the quote at `s[start]` and the next one, and the
/// position after the closing quote; `None` when it is not closed.
fn quoted(s: &[char], start: usize) -> Option<(String, usize)> {
    let close = s[start + 1..].iter().position(|&c| c == '"')? + start + 1;
    Some((s[start + 1..close].iter().collect(), close + 1))
}

/// Runs of whitespace made one space, ends trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The one vector a query searches with: the weighted sum of its terms'
/// unit vectors (negative weights subtract), normalised. `parts` pairs
/// each term's vector with its signed weight.
pub(crate) fn combine(parts: &[(&[f32], f32)]) -> Result<Vec<f32>> {
    let dim = parts.first().map_or(0, |(v, _)| v.len());
    let mut q = vec![0f32; dim];
    for (v, w) in parts {
        let unit = crate::vector::normalised(v, dim)
            .map_err(|e| Error::InvalidArgument(format!("a query term's vector: {e}")))?;
        for (q, u) in q.iter_mut().zip(unit) {
            *q += w * u;
        }
    }
    crate::vector::normalised(&q, dim).map_err(|_| {
        Error::InvalidArgument(
            "the terms to move towards and away from cancel out: nothing is left to search for; drop or lighten a `-` term".into(),
        )
    })
}

/// What making a vocabulary did: how many phrases, from where, and what
/// was dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VocabularyReport {
    /// Phrases in the vocabulary.
    pub phrases: usize,
    /// Of them, from the built-in vocabulary.
    pub builtin: usize,
    /// Of them, from `--vocabulary FILE`.
    pub added: usize,
    /// The file that added phrases, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Lines dropped as repeats of an earlier phrase (case and spacing
    /// ignored).
    pub duplicates: usize,
    /// Empty lines skipped.
    pub empty_lines: usize,
}

impl VocabularyReport {
    /// In plain words, for a note under the results: "351 phrases (351
    /// built in, 12 from FILE); 2 repeats and 1 empty line left out".
    pub fn sentence(&self) -> String {
        use crate::plain::count;
        let mut s = count(self.phrases, "phrase", "phrases");
        if let Some(f) = &self.file {
            s.push_str(&format!(
                " ({} built in, {} from {f})",
                self.builtin, self.added
            ));
        }
        let mut dropped = Vec::new();
        if self.duplicates > 0 {
            dropped.push(count(
                self.duplicates,
                "repeated phrase",
                "repeated phrases",
            ));
        }
        if self.empty_lines > 0 {
            dropped.push(count(self.empty_lines, "empty line", "empty lines"));
        }
        if !dropped.is_empty() {
            s.push_str(&format!("; {} left out", dropped.join(" and ")));
        }
        s
    }
}

/// The phrases taste is described with.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    phrases: Vec<String>,
    keys: std::collections::HashSet<String>,
    report: VocabularyReport,
}

impl Vocabulary {
    /// The built-in vocabulary ([`BUILTIN_VOCABULARY`]).
    pub fn builtin() -> Vocabulary {
        let mut v = Vocabulary {
            phrases: Vec::new(),
            keys: Default::default(),
            report: VocabularyReport::default(),
        };
        // The built-in file is checked by a unit test: no line fails.
        for line in BUILTIN_VOCABULARY.lines() {
            let _ = v.add_line(line);
        }
        v.report.builtin = v.phrases.len();
        v.report.phrases = v.phrases.len();
        v
    }

    /// Adds the phrases of a vocabulary file's text (`path` names it in
    /// errors and in the report): one phrase a line, `#` lines ignored,
    /// repeats and empty lines dropped and counted.
    pub fn extend(&mut self, text: &str, path: &std::path::Path) -> Result<()> {
        let before = self.phrases.len();
        for (i, line) in text.lines().enumerate() {
            self.add_line(line).map_err(|reason| Error::Vocabulary {
                path: path.to_path_buf(),
                line: Some(i + 1),
                reason,
            })?;
        }
        self.report.added += self.phrases.len() - before;
        self.report.phrases = self.phrases.len();
        self.report.file = Some(path.display().to_string());
        Ok(())
    }

    fn add_line(&mut self, line: &str) -> std::result::Result<(), String> {
        let t = line.trim();
        if t.starts_with('#') {
            return Ok(());
        }
        if t.is_empty() {
            self.report.empty_lines += 1;
            return Ok(());
        }
        if t.chars().any(char::is_control) && t.chars().any(|c| c != '\t' && c.is_control()) {
            return Err("a control character in a phrase".into());
        }
        let phrase = collapse(t);
        let n = phrase.chars().count();
        if n > MAX_PHRASE_CHARS {
            return Err(format!(
                "a phrase of {n} characters; a phrase may have at most {MAX_PHRASE_CHARS}"
            ));
        }
        if !self.keys.insert(phrase.to_lowercase()) {
            self.report.duplicates += 1;
            return Ok(());
        }
        if self.phrases.len() >= MAX_VOCABULARY {
            return Err(format!(
                "more than {MAX_VOCABULARY} phrases; a vocabulary may have at most {MAX_VOCABULARY}"
            ));
        }
        self.phrases.push(phrase);
        Ok(())
    }

    /// The phrases, built-in first, in file order.
    pub fn phrases(&self) -> &[String] {
        &self.phrases
    }

    /// What was kept and dropped.
    pub fn report(&self) -> &VocabularyReport {
        &self.report
    }
}

/// How [`taste_in_words`] measures.
#[derive(Debug, Clone)]
pub struct WordsOptions {
    /// Cross-validation folds for the held-out figures.
    pub folds: usize,
    /// Independent fold splits, averaged.
    pub repeats: usize,
    /// Shuffles of the ratings for the permutation test, at most; fewer
    /// are run when the vocabulary and the ratings are large
    /// ([`PERMUTATION_WORK`]).
    pub permutations: usize,
    /// Phrases listed each way (up and down).
    pub shown: usize,
    /// The family-wise error rate of "explains better than chance".
    pub alpha: f64,
    /// Seeds the folds and the shuffles: the same seed gives the same
    /// figures.
    pub seed: u64,
    /// Score a phrase by how much closer a work sits to it than to the
    /// average phrase (see [`phrase_scores`]).
    pub centre: bool,
}

impl Default for WordsOptions {
    fn default() -> Self {
        WordsOptions {
            folds: 5,
            repeats: 3,
            permutations: 999,
            shown: 5,
            alpha: 0.05,
            seed: 0x7a57_e1d5,
            centre: true,
        }
    }
}

/// The least ratings [`taste_in_words`] works with: below it a fold's
/// test part has one or two works and a Spearman of 32 phrases' best means
/// nothing.
pub const MIN_WORDS_RATINGS: usize = 10;

/// Multiply-adds the permutation test may spend (phrases × ratings ×
/// shuffles); past it the shuffles are cut, never below
/// [`MIN_PERMUTATIONS`], so that `taste` stays interactive with a big
/// vocabulary and many ratings.
pub const PERMUTATION_WORK: usize = 2_000_000_000;

/// The fewest shuffles the permutation test runs: p-values to 0.005.
pub const MIN_PERMUTATIONS: usize = 199;

/// One phrase's relation to the ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhraseFinding {
    /// The phrase.
    pub phrase: String,
    /// Spearman correlation of the phrase's score with the ratings, over
    /// every rated work: positive means the works nearer the phrase are
    /// rated higher.
    pub spearman: f64,
    /// The same, held out: each work's score direction learned from the
    /// folds without it, pooled over the folds and averaged over the
    /// repeats; signed like `spearman` (negative for a phrase rated lower). Chosen among many phrases, a phrase's own figure is still
    /// optimistic; the view's `best_held_out` is not.
    pub held_out: f64,
    /// The family-wise p-value: the share of shuffled ratings on which the
    /// best of all the phrases did at least this well.
    pub adjusted_p: f64,
    /// `adjusted_p` at or below the options' `alpha`.
    pub beyond_chance: bool,
}

/// A taste in words, for one backbone's joint space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TasteWords {
    /// Rated works the figures use.
    pub ratings: usize,
    /// Phrases looked at.
    pub phrases: usize,
    /// Phrases whose works are rated higher, strongest first.
    pub up: Vec<PhraseFinding>,
    /// Phrases whose works are rated lower, strongest first.
    pub down: Vec<PhraseFinding>,
    /// The held-out Spearman of the best phrase chosen inside each
    /// training fold and scored on its test fold: how much of the ratings
    /// one phrase explains, with the choice among all phrases paid for.
    pub best_held_out: f64,
    /// The best |Spearman| of any phrase that shuffled ratings reach in
    /// (1 − alpha) of shuffles: what chance alone gives.
    pub chance_level: f64,
    /// The permutation p-value of the best phrase (max statistic).
    pub p_value: f64,
    /// Some phrase explains the ratings better than chance (`p_value` ≤
    /// alpha).
    pub explains: bool,
    /// Shuffles run.
    pub permutations: usize,
    /// Folds of the held-out figures.
    pub folds: usize,
}

impl TasteWords {
    /// The finding in one sentence: "You rate works like “calm seascapes”
    /// and “muted blue palette” higher, and “crowded street scene” lower",
    /// or that nothing explains them better than chance.
    pub fn sentence(&self) -> String {
        use crate::plain::score;
        let list = |f: &[PhraseFinding]| {
            let names: Vec<String> = f
                .iter()
                .filter(|p| p.beyond_chance)
                .take(3)
                .map(|p| format!("“{}”", p.phrase))
                .collect();
            match names.len() {
                0 => None,
                1 => Some(names[0].clone()),
                n => Some(format!(
                    "{} and {}",
                    names[..n - 1].join(", "),
                    names[n - 1]
                )),
            }
        };
        if !self.explains {
            let best = self
                .up
                .iter()
                .chain(&self.down)
                .max_by(|a, b| a.spearman.abs().total_cmp(&b.spearman.abs()));
            return match best {
                Some(b) => format!(
                    "Nothing in the vocabulary explains these ratings better than chance: the closest phrase, “{}”, follows them by {}, and shuffled ratings reach {} with one of the {} phrases in {} of shuffles.",
                    b.phrase,
                    score(b.spearman.abs()),
                    score(self.chance_level),
                    self.phrases,
                    crate::head::percent(1.0 - (self.chance_alpha())),
                ),
                None => "Nothing in the vocabulary explains these ratings better than chance.".into(),
            };
        }
        let parts: Vec<String> = [(list(&self.up), "higher"), (list(&self.down), "lower")]
            .into_iter()
            .filter_map(|(l, way)| l.map(|l| format!("works like {l} {way}")))
            .collect();
        format!(
            "You rate {}. The best phrase chosen without the works it is tested on follows held-out ratings by {} (Spearman).",
            parts.join(", and "),
            score(self.best_held_out)
        )
    }

    /// The alpha `chance_level` was taken at (the default's: the view does
    /// not keep the options).
    pub(crate) fn chance_alpha(&self) -> f64 {
        WordsOptions::default().alpha
    }
}

/// Each phrase's score for each work: `scores[p][j]` is the cosine of work
/// `j` with phrase `p`, minus (when `centre`) the work's mean cosine over
/// all phrases, i.e. how much closer the work sits to this phrase than to
/// the average phrase. Random and real text towers alike put all phrases
/// in a narrow cone, so a raw cosine mostly measures "how text-like is
/// this image" and every phrase correlates with the same thing; the
/// centred score keeps what tells phrases apart.
pub(crate) fn phrase_scores(
    images: &[Vec<f32>],
    phrases: &[Vec<f32>],
    centre: bool,
) -> Vec<Vec<f64>> {
    let unit = |v: &[f32]| -> Vec<f64> {
        let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        v.iter()
            .map(|x| if n > 0.0 { *x as f64 / n } else { 0.0 })
            .collect()
    };
    let imgs: Vec<Vec<f64>> = images.iter().map(|v| unit(v)).collect();
    let mut scores: Vec<Vec<f64>> = phrases
        .iter()
        .map(|t| {
            let t = unit(t);
            imgs.iter()
                .map(|x| x.iter().zip(&t).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect();
    if centre && !scores.is_empty() {
        let p = scores.len() as f64;
        for j in 0..images.len() {
            let mean = scores.iter().map(|s| s[j]).sum::<f64>() / p;
            for s in &mut scores {
                s[j] -= mean;
            }
        }
    }
    scores
}

/// The `q`-quantile of sorted values, interpolating linearly (numpy's
/// default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Average ranks centred and scaled to unit length, so that the dot
/// product of two of them is their Spearman correlation (zero vector for
/// a constant input).
fn unit_ranks(v: &[f64]) -> Vec<f64> {
    let r = average_ranks(v);
    let m = r.iter().sum::<f64>() / r.len().max(1) as f64;
    let c: Vec<f64> = r.iter().map(|x| x - m).collect();
    let n = c.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n > 0.0 {
        c.iter().map(|x| x / n).collect()
    } else {
        vec![0.0; c.len()]
    }
}

/// `v` (a unit vector) with its component along `out` (a unit vector, or
/// zeros for none) taken out, made unit length again (zeros when nothing is
/// left). On unit rank vectors, the dot product of two such residuals is
/// the partial Spearman correlation given what `out` ranks.
fn residual_unit(mut v: Vec<f64>, out: &[f64]) -> Vec<f64> {
    let d: f64 = v.iter().zip(out).map(|(a, b)| a * b).sum();
    for (x, o) in v.iter_mut().zip(out) {
        *x -= d * o;
    }
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n > 1e-9 {
        v.iter_mut().for_each(|x| *x /= n);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
    v
}

const TAG_WORD_FOLDS: u64 = 0x5730_7264;
const TAG_WORD_PERM: u64 = 0x5065_726d;

/// Describes `ratings` (of the works whose joint-space vectors are
/// `images`, same order) with the `phrases` (their joint-space vectors
/// `phrase_vectors`, same order). See the module header and
/// STATISTICS.md for the method.
pub fn taste_in_words(
    images: &[Vec<f32>],
    ratings: &[f64],
    phrases: &[String],
    phrase_vectors: &[Vec<f32>],
    opts: &WordsOptions,
) -> Result<TasteWords> {
    let n = ratings.len();
    if images.len() != n || phrases.len() != phrase_vectors.len() {
        return Err(Error::InvalidArgument(format!(
            "taste in words: {} works for {n} ratings, {} phrases for {} vectors",
            images.len(),
            phrases.len(),
            phrase_vectors.len()
        )));
    }
    if n < MIN_WORDS_RATINGS {
        return Err(Error::InvalidArgument(format!(
            "taste in words needs at least {MIN_WORDS_RATINGS} ratings, and {n} were given"
        )));
    }
    if phrases.is_empty() {
        return Err(Error::InvalidArgument(
            "taste in words needs at least one phrase".into(),
        ));
    }
    if ratings.iter().any(|r| !r.is_finite()) {
        return Err(Error::InvalidArgument(
            "taste in words: a rating is not a finite number".into(),
        ));
    }
    let raw = phrase_scores(images, phrase_vectors, false);
    let p = raw.len();
    // What every phrase shares: each work's mean cosine over the phrases.
    // Centring takes it out of the phrases' scores, and the partial
    // correlation out of the ratings too (see `partial_rhos`).
    let shared: Option<Vec<f64>> = opts.centre.then(|| {
        (0..n)
            .map(|j| raw.iter().map(|s| s[j]).sum::<f64>() / p as f64)
            .collect()
    });
    let scores = if opts.centre {
        phrase_scores(images, phrase_vectors, true)
    } else {
        raw
    };
    let out = shared
        .as_deref()
        .map(unit_ranks)
        .unwrap_or_else(|| vec![0.0; n]);
    let a: Vec<Vec<f64>> = scores
        .iter()
        .map(|s| residual_unit(unit_ranks(s), &out))
        .collect();
    let base = unit_ranks(ratings);
    let b = residual_unit(base.clone(), &out);
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let rho: Vec<f64> = a.iter().map(|ap| dot(ap, &b).clamp(-1.0, 1.0)).collect();

    // The max-statistic permutation test: on each shuffle of the ratings,
    // the best |Spearman| of any phrase. Comparing each phrase with that
    // distribution controls the family-wise error however many phrases are
    // looked at (Westfall and Young's single-step max-T).
    let budget = (PERMUTATION_WORK / (p * n).max(1)).max(MIN_PERMUTATIONS);
    let perms = opts.permutations.min(budget).max(1);
    let mut rng = SplitMix64::new(mix(opts.seed, TAG_WORD_PERM, 0));
    let mut shuffled = base.clone();
    let mut maxima: Vec<f64> = Vec::with_capacity(perms);
    for _ in 0..perms {
        rng.shuffle(&mut shuffled);
        let shuffled = residual_unit(shuffled.clone(), &out);
        let m = a
            .iter()
            .map(|ap| dot(ap, &shuffled).abs())
            .fold(0.0f64, f64::max);
        maxima.push(m);
    }
    maxima.sort_by(f64::total_cmp);
    // A shuffle reaching the observed value counts, and the observed
    // ratings count as one shuffle: the p-value is never 0.
    let tol = 1e-12;
    let adjusted = |r: f64| {
        let at_least = maxima.len() - maxima.partition_point(|m| *m < r.abs() - tol);
        (1 + at_least) as f64 / (1 + perms) as f64
    };
    let best_abs = rho.iter().map(|r| r.abs()).fold(0.0f64, f64::max);
    let p_value = adjusted(best_abs);
    let chance_level = quantile_sorted(&maxima, 1.0 - opts.alpha);

    // Held-out figures, over `repeats` fold splits.
    let folds = opts.folds.clamp(2, n);
    let repeats = opts.repeats.max(1);
    let mut held_out = vec![0.0f64; p];
    let mut best_held_out = 0.0f64;
    for r in 0..repeats {
        let fold_of = fold_assignment(
            n,
            folds,
            &mut SplitMix64::new(mix(opts.seed, TAG_WORD_FOLDS, r as u64)),
        );
        // Out-of-fold predictions: per phrase (its direction learned on
        // the training part), and of the best phrase chosen on the
        // training part, standardised with the training part's mean and
        // spread so that predictions of different folds pool.
        let mut oof: Vec<Vec<f64>> = vec![vec![0.0; n]; p];
        let mut best_oof = vec![0.0f64; n];
        for f in 0..folds {
            let train: Vec<usize> = (0..n).filter(|&j| fold_of[j] != f).collect();
            let test: Vec<usize> = (0..n).filter(|&j| fold_of[j] == f).collect();
            if test.is_empty() {
                continue;
            }
            let y_train: Vec<f64> = train.iter().map(|&j| ratings[j]).collect();
            let out_train = shared
                .as_ref()
                .map(|m| unit_ranks(&train.iter().map(|&j| m[j]).collect::<Vec<f64>>()))
                .unwrap_or_else(|| vec![0.0; train.len()]);
            let b_train = residual_unit(unit_ranks(&y_train), &out_train);
            let mut best: Option<(usize, f64)> = None;
            for (q, s) in scores.iter().enumerate() {
                let s_train: Vec<f64> = train.iter().map(|&j| s[j]).collect();
                let r_train = dot(&residual_unit(unit_ranks(&s_train), &out_train), &b_train);
                let sign = if r_train < 0.0 { -1.0 } else { 1.0 };
                for &j in &test {
                    oof[q][j] = sign * s[j];
                }
                if best.is_none_or(|(_, b)| r_train.abs() > b.abs()) {
                    best = Some((q, r_train));
                }
            }
            if let Some((q, r_train)) = best {
                let s = &scores[q];
                let m = train.iter().map(|&j| s[j]).sum::<f64>() / train.len() as f64;
                let sd = (train.iter().map(|&j| (s[j] - m).powi(2)).sum::<f64>()
                    / train.len() as f64)
                    .sqrt();
                let sign = if r_train < 0.0 { -1.0 } else { 1.0 };
                for &j in &test {
                    best_oof[j] = sign * if sd > 0.0 { (s[j] - m) / sd } else { 0.0 };
                }
            }
        }
        for q in 0..p {
            held_out[q] += spearman(&oof[q], ratings) / repeats as f64;
        }
        best_held_out += spearman(&best_oof, ratings) / repeats as f64;
    }

    let finding = |q: usize| PhraseFinding {
        phrase: phrases[q].clone(),
        spearman: rho[q],
        // Signed like the strength, so that a phrase rated lower reads as
        // negative in both columns.
        held_out: if rho[q] < 0.0 {
            -held_out[q]
        } else {
            held_out[q]
        },
        adjusted_p: adjusted(rho[q]),
        beyond_chance: adjusted(rho[q]) <= opts.alpha,
    };
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&x, &y| rho[y].total_cmp(&rho[x]).then(x.cmp(&y)));
    let up: Vec<PhraseFinding> = order
        .iter()
        .filter(|&&q| rho[q] > 0.0)
        .take(opts.shown)
        .map(|&q| finding(q))
        .collect();
    let down: Vec<PhraseFinding> = order
        .iter()
        .rev()
        .filter(|&&q| rho[q] < 0.0)
        .take(opts.shown)
        .map(|&q| finding(q))
        .collect();
    Ok(TasteWords {
        ratings: n,
        phrases: p,
        up,
        down,
        best_held_out,
        chance_level,
        p_value,
        explains: p_value <= opts.alpha,
        permutations: perms,
        folds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, w: f32) -> QueryTerm {
        QueryTerm {
            target: TermTarget::Text(t.into()),
            weight: w,
        }
    }

    fn work(t: &str, w: f32) -> QueryTerm {
        QueryTerm {
            target: TermTarget::Work(t.into()),
            weight: w,
        }
    }

    #[test]
    fn queries_read_phrases_works_signs_and_weights() {
        assert_eq!(
            parse_query("a stormy  sea at night").unwrap(),
            vec![text("a stormy sea at night", 1.0)]
        );
        assert_eq!(
            parse_query(r#""stormy sea" +work:12 -"people""#).unwrap(),
            vec![
                text("stormy sea", 1.0),
                work("12", 1.0),
                text("people", -DEFAULT_NEGATIVE_WEIGHT)
            ]
        );
        assert_eq!(
            parse_query(r#""sea":2 boats -people:1.5 work:"My File.png":0.5"#).unwrap(),
            vec![
                text("sea", 2.0),
                text("boats", 1.0),
                text("people", -1.5),
                work("My File.png", 0.5)
            ]
        );
        assert_eq!(
            parse_query("stormy sea:3 -work:ab12").unwrap(),
            vec![
                text("stormy sea", 3.0),
                work("ab12", -DEFAULT_NEGATIVE_WEIGHT)
            ]
        );
        // A hyphen inside a word is part of it; a bare `-` alone is not a
        // term.
        assert_eq!(
            parse_query("post-impressionism").unwrap(),
            vec![text("post-impressionism", 1.0)]
        );
        // What a term shows is what parses back to it.
        for t in parse_query(r#""sea":2 -"people" work:3 -work:"a b":2"#).unwrap() {
            assert_eq!(parse_query(&format!("x {}", t.shown())).unwrap()[1], t);
        }
    }

    #[test]
    fn bad_queries_are_refused_saying_why() {
        for (q, why) in [
            ("", "empty"),
            ("   ", "empty"),
            (r#""stormy sea"#, "not closed"),
            (r#""""#, "empty phrase"),
            ("-people", "say what to look for"),
            ("sea - people", "nothing right after"),
            ("work:", "must name a work"),
            (r#""sea":0"#, "above 0"),
            (r#""sea":-2"#, "above 0"),
            (r#""sea":inf"#, "above 0"),
            (r#""sea":1000"#, "at most"),
            (r#""sea":x"#, "must be a weight"),
            ("a\u{7}b", "control"),
        ] {
            let e = parse_query(q).unwrap_err().to_string();
            assert!(e.contains(why), "{q:?}: {e}");
        }
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert!(parse_query(&long)
            .unwrap_err()
            .to_string()
            .contains("longer"));
        let many = (0..=MAX_QUERY_TERMS)
            .map(|i| format!("\"t{i}\""))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(parse_query(&many)
            .unwrap_err()
            .to_string()
            .contains("terms"));
    }

    #[test]
    fn the_combined_vector_follows_the_weights_and_refuses_cancelling_out() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 2.0];
        let q = combine(&[(&a, 1.0), (&b, 1.0)]).unwrap();
        assert!((q[0] - q[1]).abs() < 1e-6);
        let q = combine(&[(&a, 2.0), (&b, 1.0)]).unwrap();
        assert!(q[0] > q[1]);
        let q = combine(&[(&a, 1.0), (&b, -0.5)]).unwrap();
        assert!(q[1] < 0.0);
        assert!(combine(&[(&a, 1.0), (&a, -1.0)]).is_err());
    }

    #[test]
    fn the_builtin_vocabulary_is_a_few_hundred_distinct_phrases() {
        let v = Vocabulary::builtin();
        let r = v.report();
        assert!((300..=1000).contains(&r.phrases), "{r:?}");
        assert_eq!(r.duplicates, 0, "the built-in vocabulary repeats a phrase");
        assert_eq!(r.empty_lines, 0);
        let lines = BUILTIN_VOCABULARY
            .lines()
            .filter(|l| !l.trim().starts_with('#'))
            .count();
        assert_eq!(lines, r.phrases, "a built-in line was refused");
    }

    #[test]
    fn a_vocabulary_file_is_deduplicated_and_bounded() {
        let mut v = Vocabulary::builtin();
        let builtin = v.phrases().len();
        let path = std::path::Path::new("mine.txt");
        v.extend(
            "Calm  Sea\n\n# a heading\ncalm sea\nSEASCAPE\n  \nfoggy harbour\n",
            path,
        )
        .unwrap();
        let r = v.report().clone();
        assert_eq!(r.added, 2, "{r:?}");
        assert_eq!(r.phrases, builtin + 2);
        assert_eq!(
            r.duplicates, 2,
            "`calm sea` repeats `Calm Sea`, `SEASCAPE` a built-in"
        );
        assert_eq!(r.empty_lines, 2);
        assert!(v.phrases().contains(&"Calm Sea".to_string()));
        let s = r.sentence();
        assert!(
            s.contains("2 from mine.txt")
                && s.contains("2 repeated phrases")
                && s.contains("2 empty lines"),
            "{s}"
        );

        let e = Vocabulary::builtin()
            .extend(&format!("ok\n{}\n", "x".repeat(MAX_PHRASE_CHARS + 1)), path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mine.txt, line 2") && e.contains("at most"),
            "{e}"
        );
        let big: String = (0..MAX_VOCABULARY).map(|i| format!("p{i}\n")).collect();
        let e = Vocabulary::builtin()
            .extend(&big, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 5000"), "{e}");
    }

    /// Vectors like a random text tower's: every phrase near one common
    /// direction, each with a distinct part (`spread` times as long); the
    /// works spread around them.
    struct Planted {
        phrases: Vec<Vec<f32>>,
        names: Vec<String>,
        images: Vec<Vec<f32>>,
    }

    fn planted(seed: u64, n_phrases: usize, n_works: usize, dim: usize) -> Planted {
        planted_with(seed, n_phrases, n_works, dim, 0.7)
    }

    fn planted_with(
        seed: u64,
        n_phrases: usize,
        n_works: usize,
        dim: usize,
        spread: f64,
    ) -> Planted {
        let mut rng = SplitMix64::new(seed);
        let common: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let phrases = (0..n_phrases)
            .map(|_| {
                (0..dim)
                    .map(|i| (common[i] + spread * rng.normal()) as f32)
                    .collect()
            })
            .collect();
        let images = (0..n_works)
            .map(|_| {
                (0..dim)
                    .map(|i| (0.5 * common[i] + rng.normal()) as f32)
                    .collect()
            })
            .collect();
        Planted {
            phrases,
            names: (0..n_phrases).map(|i| format!("phrase {i}")).collect(),
            images,
        }
    }

    fn cos(a: &[f32], b: &[f32]) -> f64 {
        let d: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        d / (na * nb)
    }

    /// Ratings that follow one hidden phrase of `w` (its index comes back
    /// first): each work's similarity to it plus noise of half the
    /// similarities' spread. The noise's generator comes back too, for
    /// tests that draw more from it.
    fn planted_ratings(w: &Planted, seed: u64) -> (usize, Vec<f64>, SplitMix64) {
        let hidden = (seed as usize * 7) % w.phrases.len();
        let sims: Vec<f64> = w
            .images
            .iter()
            .map(|x| cos(x, &w.phrases[hidden]))
            .collect();
        let n = sims.len() as f64;
        let m = sims.iter().sum::<f64>() / n;
        let sd = (sims.iter().map(|s| (s - m).powi(2)).sum::<f64>() / n).sqrt();
        let mut rng = SplitMix64::new(seed + 1000);
        let ratings = sims.iter().map(|s| s + 0.5 * sd * rng.normal()).collect();
        (hidden, ratings, rng)
    }

    fn quick() -> WordsOptions {
        WordsOptions {
            permutations: 199,
            repeats: 1,
            ..WordsOptions::default()
        }
    }

    #[test]
    fn a_planted_phrase_is_found_and_beyond_chance() {
        let mut found = 0;
        let mut explained = 0;
        let mut held = 0.0;
        let seeds = 40;
        for seed in 0..seeds {
            let w = planted(seed, 300, 32, 64);
            let (hidden, ratings, _) = planted_ratings(&w, seed);
            let t = taste_in_words(&w.images, &ratings, &w.names, &w.phrases, &quick()).unwrap();
            if t.up.iter().take(3).any(|f| f.phrase == w.names[hidden]) {
                found += 1;
            }
            if t.explains {
                explained += 1;
            }
            held += t.best_held_out / seeds as f64;
        }
        // Measured 0.46 over 200 seeds (STATISTICS.md): the phrase chosen
        // inside the folds predicts the held-out ratings.
        assert!(
            held > 0.3,
            "mean held-out Spearman of the best phrase {held}"
        );
        assert!(
            found * 10 >= seeds * 9,
            "hidden phrase in the top 3 in {found} of {seeds}"
        );
        // Measured 176 of 200 (88%) at this spread: the family-wise test
        // pays for looking at 300 phrases.
        assert!(
            explained * 4 >= seeds * 3,
            "beyond chance in {explained} of {seeds}"
        );
    }

    #[test]
    fn pure_noise_says_nothing_explains_it() {
        let seeds = 40;
        let mut nothing = 0;
        for seed in 0..seeds {
            let w = planted(seed, 300, 32, 64);
            let mut rng = SplitMix64::new(seed + 5000);
            let ratings: Vec<f64> = (0..32).map(|_| rng.normal()).collect();
            let t = taste_in_words(&w.images, &ratings, &w.names, &w.phrases, &quick()).unwrap();
            if !t.explains {
                nothing += 1;
                assert!(
                    t.sentence().starts_with("Nothing in the vocabulary"),
                    "{}",
                    t.sentence()
                );
            }
            assert!(t.p_value > 0.0 && t.p_value <= 1.0);
        }
        assert!(
            nothing * 10 >= seeds * 9,
            "nothing explains in {nothing} of {seeds}"
        );
    }

    #[test]
    fn odd_inputs_give_errors_or_plain_answers_never_a_panic() {
        let w = planted(1, 20, 12, 8);
        // Every rating equal: nothing to explain.
        let t = taste_in_words(&w.images, &[5.0; 12], &w.names, &w.phrases, &quick()).unwrap();
        assert!(!t.explains);
        assert!(taste_in_words(&w.images[..5], &[1.0; 5], &w.names, &w.phrases, &quick()).is_err());
        assert!(taste_in_words(&w.images, &[1.0; 11], &w.names, &w.phrases, &quick()).is_err());
        let mut bad = vec![1.0; 12];
        bad[3] = f64::NAN;
        assert!(taste_in_words(&w.images, &bad, &w.names, &w.phrases, &quick()).is_err());
        // A zero vector scores zero instead of dividing by zero.
        let mut images = w.images.clone();
        images[0] = vec![0.0; 8];
        let y: Vec<f64> = (0..12).map(f64::from).collect();
        taste_in_words(&images, &y, &w.names, &w.phrases, &quick()).unwrap();
    }

    #[test]
    fn figures_are_the_same_for_the_same_seed() {
        let w = planted(3, 50, 20, 16);
        let y: Vec<f64> = (0..20).map(|i| f64::from(i % 7)).collect();
        let a = taste_in_words(&w.images, &y, &w.names, &w.phrases, &quick()).unwrap();
        let b = taste_in_words(&w.images, &y, &w.names, &w.phrases, &quick()).unwrap();
        assert_eq!(a, b);
    }

    /// The calibration and power figures of STATISTICS.md ("Taste in
    /// words"): `cargo test --lib eval::words::tests::measure -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore]
    fn measure() {
        for (centre, spread) in [
            (true, 0.4),
            (false, 0.4),
            (true, 0.7),
            (false, 0.7),
            (true, 1.0),
        ] {
            let seeds = 200u64;
            let (mut top3, mut found, mut noise_nothing) = (0, 0, 0);
            let mut held = 0.0;
            for seed in 0..seeds {
                let w = planted_with(seed, 300, 32, 64, spread);
                let (hidden, y, mut rng) = planted_ratings(&w, seed);
                let opts = WordsOptions { centre, ..quick() };
                let t = taste_in_words(&w.images, &y, &w.names, &w.phrases, &opts).unwrap();
                top3 += t.up.iter().take(3).any(|f| f.phrase == w.names[hidden]) as usize;
                found += t.explains as usize;
                held += t.best_held_out / seeds as f64;
                let noise: Vec<f64> = (0..32).map(|_| rng.normal()).collect();
                let t = taste_in_words(&w.images, &noise, &w.names, &w.phrases, &opts).unwrap();
                noise_nothing += (!t.explains) as usize;
            }
            eprintln!(
                "spread {spread}, centre {centre}: hidden in top 3 {top3}/{seeds}, beyond chance {found}/{seeds}, mean best held-out {held:.3}; noise says nothing {noise_nothing}/{seeds}"
            );
        }
    }
}
