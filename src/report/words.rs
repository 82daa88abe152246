//! Taste in words as HTML: the panel the web app's answer page and the
//! `taste --html` page share ([`taste_words_panel`]), and that page
//! ([`render_taste_words_html`]). Every number is written by
//! [`crate::plain`], as the command line writes it.

use maud::{html, Markup, PreEscaped};

use super::document::document;
use crate::app::views::{PhraseFinding, TasteWordsView};
use crate::plain::{count, p_value, score};

/// The panel's styles (scoped under `.taste-words`).
pub(crate) const TASTE_WORDS_CSS: &str = r#"
.taste-words { margin: 16px 0; }
.taste-words .tw-column { background: var(--card, #fff); border: 1px solid var(--line, #d9dee2); border-radius: 8px; padding: 12px 14px; margin: 10px 0; }
.taste-words .tw-sentence { margin: 4px 0 10px; }
.taste-words table { border-collapse: collapse; width: 100%; font-size: 14px; }
.taste-words th, .taste-words td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line, #d9dee2); }
.taste-words td.num, .taste-words th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.taste-words .tw-chance { color: var(--muted, #5f6b73); }
.taste-words .tw-note, .taste-words .tw-method { color: var(--muted, #5f6b73); font-size: 13px; }
"#;

/// The largest |strength| among the phrases shown: the best phrase's, the
/// statistic the permutation test compares with shuffled ratings.
fn strongest(up: &[PhraseFinding], down: &[PhraseFinding]) -> f64 {
    up.iter()
        .chain(down)
        .map(|f| f.spearman.abs())
        .fold(0.0, f64::max)
}

fn rows(title: &str, list: &[PhraseFinding]) -> Markup {
    html! {
        @if !list.is_empty() {
            tr { th colspan="4" { (title) } }
            @for f in list {
                tr class=(if f.beyond_chance { "tw-phrase" } else { "tw-phrase tw-chance" }) {
                    td { (f.phrase) @if !f.beyond_chance { " (no better than chance)" } }
                    td.num { (score(f.spearman)) }
                    td.num { (score(f.held_out)) }
                    td.num { (p_value(f.adjusted_p)) }
                }
            }
        }
    }
}

/// The panel: per backbone, the finding in a sentence and the phrases up
/// and down with their strength, held-out figure and family-wise p-value.
pub fn taste_words_panel(view: &TasteWordsView) -> Markup {
    html! {
        section.taste-words id="taste-words" {
            h3 { "Your taste in words" }
            p.tw-note {
                (count(view.ratings, "rating", "ratings")) " by " (view.rater)
                "; vocabulary of " (view.vocabulary.sentence()) "."
            }
            @for c in &view.columns {
                div.tw-column data-backbone=(c.backbone) {
                    h4 { (c.display_name) }
                    p.tw-sentence { (c.sentence) }
                    table {
                        thead { tr {
                            th { "phrase" }
                            th.num title="Spearman correlation of the phrase's score with the ratings, over every rated work" { "strength" }
                            th.num title="The same, each work's direction learned without it (cross-validated)" { "held out" }
                            th.num title="Share of shuffled ratings on which the best of all phrases did as well (family-wise)" { "p" }
                        } }
                        tbody {
                            (rows("rated higher", &c.words.up))
                            (rows("rated lower", &c.words.down))
                        }
                    }
                    p.tw-note {
                        // Like is compared with like: the strongest phrase's
                        // strength against what the strongest of all phrases
                        // reaches on shuffled ratings (the permutation test),
                        // then the held-out figure, which needs no such
                        // comparison because the phrase was chosen without
                        // the works it is scored on.
                        "The strongest phrase follows your ratings by "
                        (score(strongest(&c.words.up, &c.words.down)))
                        "; on shuffled ratings the strongest of the " (c.words.phrases) " phrases reaches "
                        (score(c.words.chance_level)) " in " (crate::head::percent(1.0 - c.words.chance_alpha())) " of " (c.words.permutations) " shuffles (p "
                        (p_value(c.words.p_value)) "). Chosen without the works it is tested on, the best phrase follows their ratings by "
                        strong.tw-best { (score(c.words.best_held_out)) } "."
                    }
                }
            }
            @for s in &view.skipped {
                p.tw-note { (s.backbone) " skipped: " (s.reason) }
            }
            p.tw-method { "How: " (view.method) "." }
        }
    }
}

/// A self-contained page of the panel (`taste --html`): inline styles, no
/// script, nothing fetched.
pub fn render_taste_words_html(view: &TasteWordsView) -> String {
    // No picture on this page, so not even `data:` images are allowed.
    let csp = "default-src 'none'; style-src 'unsafe-inline'";
    let style = html! {
        (PreEscaped("body { margin: 0; padding: 16px 24px; font: 15px/1.45 system-ui, sans-serif; color: #1d2327; background: #f3f5f7; }")) (PreEscaped(TASTE_WORDS_CSS))
    };
    document(
        &format!("artlens — taste in words of {}", view.rater),
        csp,
        style,
        taste_words_panel(view),
    )
}
