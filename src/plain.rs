//! Plain words for numbers a person reads, the same on every front end:
//! counts with their noun in the right number ("1 work", "24 works"), and
//! scores with the same number of decimals.

/// `n` followed by the singular or the plural noun.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// A score or a predicted rating as every front end shows it: two
/// decimals, as the score report's "Taste score" (`-` when not a number).
pub fn score(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "-".into()
    }
}

/// A cosine similarity as every front end shows it: three decimals, as
/// `similar`'s table.
pub fn similarity(x: f32) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "-".into()
    }
}

/// A map's trustworthiness as every front end shows it: two decimals.
pub fn trustworthiness(x: f64) -> String {
    score(x)
}

/// What a map's trustworthiness means, in the words every front end uses.
pub const TRUSTWORTHINESS_MEANS: &str = "1.00 means each work's ten nearest on the map are among its nearest for the backbone; lower means works shown as neighbours that the backbone sees as far apart";

/// A p-value as every front end shows it: three decimals, and `< 0.001`
/// below that (a permutation p-value is never exactly 0).
pub fn p_value(p: f64) -> String {
    if !p.is_finite() {
        "-".into()
    } else if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_noun_in_the_right_number() {
        assert_eq!(count(0, "work", "works"), "0 works");
        assert_eq!(count(1, "work", "works"), "1 work");
        assert_eq!(count(2, "rating", "ratings"), "2 ratings");
    }

    #[test]
    fn scores_have_two_decimals() {
        assert_eq!(score(7.0), "7.00");
        assert_eq!(score(6.125), "6.12");
        assert_eq!(score(f64::NAN), "-");
        assert_eq!(similarity(0.87654), "0.877");
    }
}
