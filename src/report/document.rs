//! The frame of every self-contained report: the doctype, the head with its
//! Content-Security-Policy, title and one `<style>` element, and the body.

use maud::{html, Markup, DOCTYPE};

/// A report may show inline styles and `data:` images and load nothing
/// else: no scripts, no fonts, no network. It documents, and enforces in
/// the browser, that a report is self-contained.
pub(super) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/// The whole document: `csp` as its policy, `style` as the content of its
/// one `<style>` element, `body` as its body.
pub(super) fn document(title: &str, csp: &str, style: Markup, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (style) }
            }
            body { (body) }
        }
    }
    .into_string()
}
