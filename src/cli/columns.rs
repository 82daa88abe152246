//! The text table of `search` and `similar`: the works each backbone found,
//! one column a backbone and one row a rank, side by side.

use std::collections::BTreeMap;

use artlens::app::views::FoundWork;

use super::{out_line, printable};

/// The width of a column, in characters.
const WIDTH: usize = 44;

/// A hit as a cell names it: `#ID title` (the file name when the work has
/// no title), safe for a text line.
pub fn hit_name(h: &impl FoundWork) -> String {
    printable(&format!("#{} {}", h.id(), h.title()))
}

/// The metadata filters a heading names: ` where a=b, c=d`, or nothing.
pub fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        format!(" where {}", filters.join(", "))
    }
}

/// Prints the header and a row per rank: in each backbone's column, what
/// `cell` says of its hit at that rank (cut to the column), blank where its
/// list is shorter. Returns how many rows there were.
pub fn print_columns<H>(
    backbones: &[String],
    results: &BTreeMap<String, Vec<H>>,
    cell: impl Fn(&H) -> String,
) -> usize {
    let rows = results.values().map(Vec::len).max().unwrap_or(0);
    let header: Vec<String> = backbones.iter().map(|b| format!("{b:<WIDTH$}")).collect();
    out_line(&format!("rank  {}", header.join("  ")));
    for i in 0..rows {
        let cells: Vec<String> = backbones
            .iter()
            .map(|b| {
                let text: String = results
                    .get(b)
                    .and_then(|hits| hits.get(i))
                    .map(&cell)
                    .unwrap_or_default()
                    .chars()
                    .take(WIDTH)
                    .collect();
                format!("{text:<WIDTH$}")
            })
            .collect();
        out_line(&format!("{:>4}  {}", i + 1, cells.join("  ")));
    }
    rows
}
