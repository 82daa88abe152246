//! One backbone's score of one image, written for a person: the score, the
//! person's own rating and what the head predicts without it, the score as
//! a weighted vote of their ratings in sentences ("your 2.5 for #12
//! *Horizon black 4* pulls this down by 0.40"), and the rated works nearest
//! to the image. The `score --html` report and the web app show the same
//! partial ([`model_score_html`]); only how a work's picture is made and
//! whether works link to their pages differ ([`WorkPictures`]). The CLI's
//! text speaks the same sentences ([`contribution_words`],
//! [`your_rating_words`]).

use std::fmt;

use maud::{html, Markup};

use super::text::{file_name, num, rating, signed};
use super::thumbs::{Thumbnails, REFERENCE_THUMB_SIDE};
use crate::app::views::ModelScore;
use crate::explain::{Contribution, Reference};

/// What differs between the places a model score is shown: how a rated
/// work's picture is made and whether a work links to its own page.
pub trait WorkPictures {
    /// The picture of work `id` (first seen at `path`), described by `alt`.
    fn picture(&self, id: u64, path: Option<&str>, alt: &str) -> Markup;
    /// The address of the work's page, when works link to pages.
    fn work_href(&self, id: u64) -> Option<String>;
}

/// The web app's pictures: thumbnails from `/api/works/{id}/thumb?size=128`,
/// each work linked to `/works/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServedPictures;

impl WorkPictures for ServedPictures {
    fn picture(&self, id: u64, _path: Option<&str>, alt: &str) -> Markup {
        html! {
            img src={ "/api/works/" (id) "/thumb?size=128" } alt=(alt) width="128" height="128" loading="lazy";
        }
    }

    fn work_href(&self, id: u64) -> Option<String> {
        Some(format!("/works/{id}"))
    }
}

/// A self-contained report's pictures: thumbnails embedded once per report,
/// no links (the report has no work pages to go to).
impl WorkPictures for Thumbnails {
    fn picture(&self, _id: u64, path: Option<&str>, alt: &str) -> Markup {
        self.html(path, REFERENCE_THUMB_SIDE, alt)
    }

    fn work_href(&self, _id: u64) -> Option<String> {
        None
    }
}

/// One contribution as a sentence in three parts, so that a page can set
/// the work's name apart (in italics, as a link) and text can join them:
/// `lead` + `work` + `tail`, e.g. "your 2.5 for #12 " + "Horizon black 4" +
/// " pulls this down by 0.40".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContributionWords {
    /// The words before the work's name ("your 2.5 for ").
    pub lead: String,
    /// The work's title, file name or `#id`; "this work" for the scored work.
    pub work: String,
    /// The words after it (" pulls this down by 0.40").
    pub tail: String,
}

impl fmt::Display for ContributionWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.lead, self.work, self.tail)
    }
}

/// The sentence every renderer shows for a contribution.
///
/// A positive weight means the head finds the image more like this work
/// than like the average rated work, so the work pulls the score toward its
/// own rating: "your 2.5 for #12 *Horizon black 4* pulls this down by 0.40".
/// A negative weight means less like it, which moves the score away from
/// the work's rating, and is said so: "being unlike your 2.5 for #12
/// *Horizon black 4* pushes this up by 0.40". The scored work's own rating
/// reads "your own 8 for *this work* pulls it up by 1.20".
pub fn contribution_words(c: &Contribution) -> ContributionWords {
    let amount = c.contribution.abs();
    let direction = if c.contribution >= 0.0 { "up" } else { "down" };
    let by = if amount < 0.005 {
        " hardly moves this".to_string()
    } else {
        format!(" by {}", num(amount, 2))
    };
    let tail = |verb: &str, object: &str| {
        if amount < 0.005 {
            by.clone()
        } else {
            format!(" {verb} {object} {direction}{by}")
        }
    };
    let r = rating(c.rating);
    if c.own {
        return ContributionWords {
            lead: format!("your own {r} for "),
            work: "this work".into(),
            tail: tail("pulls", "it"),
        };
    }
    let work = c
        .title
        .clone()
        .or_else(|| c.path.as_deref().map(file_name))
        .unwrap_or_else(|| format!("#{}", c.id));
    let id = if work == format!("#{}", c.id) {
        String::new()
    } else {
        format!("#{} ", c.id)
    };
    if c.weight >= 0.0 {
        ContributionWords {
            lead: format!("your {r} for {id}"),
            work,
            tail: tail("pulls", "this"),
        }
    } else {
        ContributionWords {
            lead: format!("being unlike your {r} for {id}"),
            work,
            tail: tail("pushes", "this"),
        }
    }
}

/// The person's rating of the scored work beside what the head predicts
/// without it, as one sentence; `None` when the work is not one they rated.
pub fn your_rating_words(m: &ModelScore) -> Option<String> {
    let yours = rating(m.your_rating?);
    let score = num(m.score, 2);
    Some(match m.without_your_rating {
        Some(w) if w == m.score => format!(
            "You rated this {yours} after the head was trained: {score} is its prediction \
             without your rating."
        ),
        Some(w) => format!(
            "You rated this {yours}. Without your rating the head would predict {}; the score \
             {score} counts your own rating.",
            num(w, 2)
        ),
        None => format!(
            "You rated this {yours}; this head cannot say what it would predict without it."
        ),
    })
}

/// One backbone's score of one image with what explains it: the partial the
/// `score --html` report and the web app's work and score pages show inside
/// their backbone column (which carries the heading). `pictures` makes the
/// references' pictures and the links to works. Its classes are styled by
/// [`MODEL_SCORE_CSS`].
pub fn model_score_html(m: &ModelScore, pictures: &dyn WorkPictures) -> Markup {
    html! {
        div.model-score {
            dl.numbers {
                div { dt { "Taste score" } dd.score { (num(m.score, 2)) } }
                @if let Some(r) = m.your_rating {
                    div { dt { "Your rating" } dd.your-rating { (rating(r)) } }
                }
                @if let (Some(_), Some(w)) = (m.your_rating, m.without_your_rating) {
                    div { dt { "Without your rating" } dd.without { (num(w, 2)) } }
                }
                div { dt { "kNN estimate" } dd.knn { (m.knn_estimate.map_or("—".to_string(), |x| num(x, 2))) } }
                @if m.nearest_similarity.is_finite() {
                    div {
                        dt { "Nearest stored work" }
                        dd.nearest {
                            "similarity " (num(f64::from(m.nearest_similarity), 3))
                            small { "threshold " (num(f64::from(m.threshold_similarity), 3)) }
                        }
                    }
                }
            }
            @if let Some(line) = your_rating_words(m) { p.your-rating-line { (line) } }
            @if m.out_of_distribution {
                p.ood-badge title="This image is farther from every stored work than almost any stored work is from its nearest neighbour (similarity below the threshold), so the head extrapolates." {
                    "Out of distribution — this score is a guess"
                }
            }
            (vote_html(m, pictures))
            @if m.references.is_empty() {
                p.muted { "No rated works to compare with." }
            } @else {
                h4 { "Nearest rated works" }
                ol.refs {
                    @for r in &m.references { (reference_item(r, pictures)) }
                }
            }
        }
    }
}

/// The score as a weighted vote: the mean rating, one sentence per listed
/// work, the rest together, and the total, which is the score.
fn vote_html(m: &ModelScore, pictures: &dyn WorkPictures) -> Markup {
    let (Some(mean), Some(rest)) = (m.intercept, m.contribution_rest) else {
        return html! {
            @if let Some(note) = &m.contributions_note { p.muted.contrib-note { (note) } }
        };
    };
    let total = mean + m.contributions.iter().map(|c| c.contribution).sum::<f64>() + rest;
    let others = m.contribution_rest_count.unwrap_or(0);
    html! {
        h4 { "What made the score" }
        p.vote-intro {
            "Your mean rating, " strong { (num(mean, 2)) } ", moved by each rated work: toward \
             your rating of it when this image is more like it than like your average rated \
             work, away from it when less."
        }
        ol.vote {
            @for c in &m.contributions {
                @let words = contribution_words(c);
                li.up[c.contribution >= 0.0].down[c.contribution < 0.0].own[c.own] data-id=(c.id)
                    title=(c.path.as_deref().unwrap_or(&c.hash)) {
                    (words.lead)
                    @if let Some(href) = pictures.work_href(c.id) {
                        a href=(href) { em { (words.work) } }
                    } @else {
                        em { (words.work) }
                    }
                    (words.tail)
                    " " span.weight { "weight " (signed(c.weight, 3)) }
                }
            }
        }
        p.vote-rest {
            "The other " (others) " rated work" @if others != 1 { "s" } " together: "
            (signed(rest, 2)) "."
        }
        p.vote-sum { "= score " strong.total { (num(total, 2)) } }
    }
}

/// A reference: its picture, then its similarity, rating, title and byline.
fn reference_item(r: &Reference, pictures: &dyn WorkPictures) -> Markup {
    let caption = r
        .metadata
        .get("title")
        .cloned()
        .or_else(|| r.path.as_deref().map(file_name))
        .unwrap_or_else(|| format!("#{}", r.id));
    let byline: Vec<&str> = ["artist", "style", "date", "year"]
        .iter()
        .filter_map(|k| r.metadata.get(*k).map(String::as_str))
        .collect();
    let mut tooltip = format!("#{} {}", r.id, r.path.as_deref().unwrap_or(&r.hash));
    for (k, v) in &r.metadata {
        tooltip.push_str(&format!("\n{k}: {v}"));
    }
    let picture = pictures.picture(r.id, r.path.as_deref(), &caption);
    html! {
        li.ref data-id=(r.id) title=(tooltip) {
            @if let Some(href) = pictures.work_href(r.id) {
                a.frame href=(href) { (picture) }
            } @else {
                div.frame { (picture) }
            }
            div.cap {
                span.sim { "sim " (num(f64::from(r.similarity), 3)) }
                " "
                span.rating { "rated " (rating(r.rating)) }
                span.title { (caption) }
                @if !byline.is_empty() { span.by { (byline.join(" · ")) } }
            }
        }
    }
}

/// The styles of [`model_score_html`], scoped to its `.model-score` box so
/// that they can join any page's style sheet. Colours fall back to the
/// report's palette where the page defines no `--muted`, `--line` or
/// `--warn`.
pub const MODEL_SCORE_CSS: &str = r#"
.model-score .numbers { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 0; }
.model-score .numbers div { min-width: 110px; }
.model-score .numbers dt { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted, #5f6b73); }
.model-score .numbers dd { margin: 0; font-size: 20px; font-variant-numeric: tabular-nums; }
.model-score .numbers dd.score { font-size: 30px; font-weight: 700; }
.model-score .numbers dd.nearest { font-size: 15px; }
.model-score .numbers small { display: block; color: var(--muted, #5f6b73); font-size: 12px; }
.model-score .your-rating-line { margin: 10px 0 0; }
.model-score .ood-badge { display: inline-block; margin: 12px 0 0; padding: 4px 10px; border-radius: 999px; font-size: 13px; font-weight: 600; background: #fdecea; color: var(--warn, #b3261e); border: 1px solid #f4b8b2; }
.model-score .vote-intro, .model-score .vote-rest { margin: 4px 0; font-size: 14px; }
.model-score ol.vote { margin: 4px 0; padding-left: 20px; font-size: 14px; }
.model-score ol.vote li { margin: 2px 0; }
.model-score ol.vote li.up::marker { color: #1b7f3b; }
.model-score ol.vote li.down::marker { color: var(--warn, #b3261e); }
.model-score ol.vote li.own { font-weight: 600; }
.model-score .weight { color: var(--muted, #5f6b73); font-size: 12px; font-variant-numeric: tabular-nums; white-space: nowrap; }
.model-score .vote-sum { margin: 4px 0 8px; font-size: 14px; }
.model-score .refs { list-style: none; display: flex; flex-wrap: wrap; gap: 12px; margin: 0; padding: 0; }
.model-score .ref { width: 164px; font-size: 12px; }
.model-score .ref .frame { width: 164px; height: 164px; display: flex; align-items: center; justify-content: center; background: #eef1f3; border-radius: 4px; }
.model-score .ref .frame img { max-width: 100%; max-height: 100%; object-fit: contain; }
.model-score .ref .cap { margin-top: 4px; }
.model-score .ref .sim { font-weight: 600; }
.model-score .ref .title, .model-score .ref .by { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.model-score .ref .by { color: var(--muted, #5f6b73); }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn contribution(weight: f64, rating: f64, mean: f64) -> Contribution {
        Contribution {
            id: 12,
            hash: "ab".repeat(32),
            path: Some("Minimalism/horizon-black-4.png".into()),
            title: Some("Horizon black 4".into()),
            rating,
            similarity: 0.4,
            weight,
            contribution: weight * (rating - mean),
            own: false,
        }
    }

    #[test]
    fn words_follow_the_weight_and_the_direction() {
        // A positive weight pulls toward the work's own rating.
        let low = contribution(0.12, 2.5, 5.8);
        assert_eq!(
            contribution_words(&low).to_string(),
            "your 2.5 for #12 Horizon black 4 pulls this down by 0.40"
        );
        let high = contribution(0.1, 9.0, 5.0);
        assert_eq!(
            contribution_words(&high).to_string(),
            "your 9 for #12 Horizon black 4 pulls this up by 0.40"
        );
        // A negative weight says the image is unlike the work.
        let unlike = contribution(-0.12, 2.5, 5.8);
        let w = contribution_words(&unlike);
        assert_eq!(w.lead, "being unlike your 2.5 for #12 ");
        assert_eq!(w.work, "Horizon black 4");
        assert_eq!(w.tail, " pushes this up by 0.40");
        // The scored work's own rating, and a work with no title or path.
        let mut own = contribution(0.3, 8.0, 6.0);
        own.own = true;
        assert_eq!(
            contribution_words(&own).to_string(),
            "your own 8 for this work pulls it up by 0.60"
        );
        let mut bare = contribution(0.5, 4.0, 5.0);
        bare.title = None;
        bare.path = None;
        assert_eq!(
            contribution_words(&bare).to_string(),
            "your 4 for #12 pulls this down by 0.50"
        );
        let still = contribution(0.2, 5.01, 5.0);
        assert_eq!(
            contribution_words(&still).to_string(),
            "your 5.01 for #12 Horizon black 4 hardly moves this"
        );
    }

    #[test]
    fn the_rating_line_says_what_the_head_predicts_without_it() {
        let mut m = ModelScore::new(7.6, Vec::new());
        assert_eq!(your_rating_words(&m), None);
        m.your_rating = Some(8.0);
        m.without_your_rating = Some(6.414);
        let line = your_rating_words(&m).unwrap();
        assert!(
            line.contains("You rated this 8.") && line.contains("predict 6.41"),
            "{line}"
        );
        m.without_your_rating = Some(7.6);
        assert!(your_rating_words(&m)
            .unwrap()
            .contains("after the head was trained"));
        m.without_your_rating = None;
        assert!(your_rating_words(&m).unwrap().contains("cannot say"));
    }

    #[test]
    fn served_scores_link_works_and_use_the_thumbnail_api() {
        let mut m = ModelScore::new(
            6.0,
            vec![Reference {
                id: 7,
                hash: "cd".repeat(32),
                path: Some("a/<b>.png".into()),
                similarity: 0.8,
                rating: 9.0,
                metadata: Default::default(),
            }],
        );
        m.intercept = Some(5.8);
        m.contributions = vec![contribution(0.12, 2.5, 5.8)];
        m.contribution_rest = Some(0.596);
        m.contribution_rest_count = Some(40);
        let html = model_score_html(&m, &ServedPictures).into_string();
        assert!(
            html.contains(r#"<img src="/api/works/7/thumb?size=128""#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="/works/12"><em>Horizon black 4</em></a>"#));
        assert!(html.contains(r#"<a class="frame" href="/works/7">"#));
        assert!(html.contains("&lt;b&gt;.png") && !html.contains("<b>"));
        assert!(html.contains("The other 40 rated works together: +0.60."));
        // 5.8 − 0.396 + 0.596 = 6.0, the score.
        assert!(html.contains(r#"= score <strong class="total">6.00</strong>"#));
    }
}
