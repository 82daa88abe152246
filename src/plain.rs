//! Plain words for numbers a person reads, the same on every front end:
//! counts with their noun in the right number ("1 work", "24 works").

/// `n` followed by the singular or the plural noun.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
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
}
