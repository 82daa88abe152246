//! Which works a person marked as copies of another (`artlens dups mark`,
//! `keep`, the Duplicates page): a versioned record per copy in the tree
//! `copies`, keyed by the copy's content hash, naming the content hash of
//! the work it copies (its group's *representative*). Nothing on disk is
//! deleted or moved: a copy stays a work of the store, with its files,
//! embeddings and ratings; the record only says which works are one
//! picture, so that cross-validation keeps them in one fold
//! (`head::compare_backbones_grouped`) and the suggestions skip copies.
//!
//! | key (tree `copies`) | value |
//! |---------------------|-------|
//! | `<copy hash>`       | [`CopyRecord`] in the store's [`super::Envelope`]: `{"format_version": 1, "fingerprints": [], "time": …, "value": {"of": "<representative hash>"}}` |
//!
//! The records always form stars: a representative is never itself a
//! copy. Marking a work a copy of a copy marks it a copy of that copy's
//! representative, and marking a representative a copy of another work
//! moves its copies along, in the same atomic batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::Result;

/// The tree the copy records live in.
pub(crate) const COPIES_TREE: &str = "copies";

/// One copy's record: the representative it copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRecord {
    /// The content hash of the group's representative.
    pub of: String,
}

impl Store {
    /// Every marked copy: copy hash → representative hash.
    pub fn copies(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .scan_records::<CopyRecord>(COPIES_TREE, "")?
            .into_iter()
            .map(|(k, r)| (k, r.value.of))
            .collect())
    }

    /// Marks `copy` a copy of `of`'s group (both content hashes of stored
    /// works, different; the caller checks both), in one atomic batch:
    /// `of` stands for its representative when it is itself a copy, and
    /// the copies of `copy`, if it was a representative, move to the new
    /// representative. Returns the representative's hash.
    pub fn mark_copy(&self, copy: &str, of: &str) -> Result<String> {
        let copies = self.copies()?;
        let mut rep = copies.get(of).cloned().unwrap_or_else(|| of.to_string());
        let mut batch = self.batch(COPIES_TREE)?;
        if rep == copy {
            // `of` is already a copy of `copy`: the two swap roles, and
            // `of` becomes the group's representative.
            batch.remove(of);
            rep = of.to_string();
        }
        for (c, r) in &copies {
            if r == copy && c != &rep {
                batch.put(c, &CopyRecord { of: rep.clone() }, Vec::new())?;
            }
        }
        batch.put(copy, &CopyRecord { of: rep.clone() }, Vec::new())?;
        self.apply(batch)?;
        Ok(rep)
    }

    /// Takes back the mark of `copy`; true when it was marked. Its former
    /// group keeps its other copies.
    pub fn unmark_copy(&self, copy: &str) -> Result<bool> {
        if !self.has_record(COPIES_TREE, copy)? {
            return Ok(false);
        }
        let mut batch = self.batch(COPIES_TREE)?;
        batch.remove(copy);
        self.apply(batch)?;
        Ok(true)
    }

    /// Makes `rep` the representative of itself and `members` (content
    /// hashes), in one atomic batch: `rep`'s own mark goes, every member
    /// (and every copy already marked of any of them) becomes a copy of
    /// `rep`.
    pub fn keep_representative(&self, rep: &str, members: &[String]) -> Result<()> {
        let copies = self.copies()?;
        let mut group: Vec<String> = members.iter().filter(|m| *m != rep).cloned().collect();
        if let Some(old) = copies.get(rep) {
            group.push(old.clone());
        }
        let reps: Vec<String> = group.clone();
        for (c, r) in &copies {
            if (reps.contains(r) || r.as_str() == rep) && c != rep {
                group.push(c.clone());
            }
        }
        group.sort();
        group.dedup();
        let mut batch = self.batch(COPIES_TREE)?;
        batch.remove(rep);
        for m in group.iter().filter(|m| m.as_str() != rep) {
            batch.put(
                m,
                &CopyRecord {
                    of: rep.to_string(),
                },
                Vec::new(),
            )?;
        }
        self.apply(batch)
    }

    /// Makes the copy records stars again after records from several
    /// stores were united (`merge`): a record whose representative is
    /// itself a copy (store 1 marked A a copy of B, store 2 B a copy of C)
    /// points to the end of the chain (A a copy of C), and in a cycle (A a
    /// copy of B in one store, B of A in the other) the work of the
    /// smallest hash becomes the representative. Content hashes are the
    /// same in every store, so nothing else needs remapping. Returns how
    /// many records changed; one atomic batch.
    pub(crate) fn restore_copy_stars(&self) -> Result<usize> {
        let mut copies = self.copies()?;
        let mut batch = self.batch(COPIES_TREE)?;
        let mut changed = 0;
        // Break every cycle first, so that each chain below has an end.
        while let Some(rep) = smallest_in_a_cycle(&copies) {
            copies.remove(&rep);
            batch.remove(&rep);
            changed += 1;
        }
        for (copy, of) in &copies {
            let mut rep = of;
            while let Some(next) = copies.get(rep) {
                rep = next;
            }
            let rep = rep.clone();
            if &rep != of {
                batch.put(copy, &CopyRecord { of: rep }, Vec::new())?;
                changed += 1;
            }
        }
        if changed > 0 {
            self.apply(batch)?;
        }
        Ok(changed)
    }

    /// The duplicate group of each of `hashes`: equal labels for a
    /// representative and its marked copies, every other work its own
    /// label (its row number), for grouping cross-validation folds.
    pub(crate) fn copy_groups(&self, hashes: &[String]) -> Result<Vec<usize>> {
        let copies = self.copies()?;
        Ok(copy_labels(hashes, &copies))
    }
}

/// [`Store::copy_groups`] on records already read: works sharing a
/// representative (or being it) get the row number of the first of them.
pub(crate) fn copy_labels(hashes: &[String], copies: &BTreeMap<String, String>) -> Vec<usize> {
    let mut first: std::collections::HashMap<&str, usize> = Default::default();
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let rep = copies.get(h).map_or(h.as_str(), String::as_str);
            *first.entry(rep).or_insert(i)
        })
        .collect()
}

/// The smallest hash on some cycle of `copies` (copy → representative),
/// if the records hold a cycle.
fn smallest_in_a_cycle(copies: &BTreeMap<String, String>) -> Option<String> {
    for start in copies.keys() {
        let mut path: Vec<&str> = vec![start];
        let mut at = start.as_str();
        while let Some(next) = copies.get(at) {
            if let Some(pos) = path.iter().position(|p| *p == next.as_str()) {
                return path[pos..].iter().min().map(|h| h.to_string());
            }
            path.push(next);
            at = next;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// Records united from two stores (`merge`) can chain or loop; the
    /// repair leaves stars with the same groups.
    #[test]
    fn united_records_become_stars_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let put = |c: &str, of: &str| {
            let mut batch = store.batch(COPIES_TREE).unwrap();
            batch
                .put(c, &CopyRecord { of: of.to_string() }, Vec::new())
                .unwrap();
            store.apply(batch).unwrap();
        };
        let [a, b, c, d, e, f] = ['a', 'b', 'c', 'd', 'e', 'f'].map(h);
        // A chain a → b → c, and a cycle d → e → f → d.
        put(&a, &b);
        put(&b, &c);
        put(&d, &e);
        put(&e, &f);
        put(&f, &d);
        assert_eq!(store.restore_copy_stars().unwrap(), 3);
        let got = store.copies().unwrap();
        assert_eq!(got.get(&a), Some(&c));
        assert_eq!(got.get(&b), Some(&c));
        assert!(!got.contains_key(&d), "{got:?}");
        assert_eq!(got.get(&e), Some(&d));
        assert_eq!(got.get(&f), Some(&d));
        assert_eq!(store.restore_copy_stars().unwrap(), 0);
    }

    #[test]
    fn copies_stay_stars_through_marks_keeps_and_unmarks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, c, d) = (h('a'), h('b'), h('c'), h('d'));
        assert_eq!(store.mark_copy(&b, &a).unwrap(), a);
        // A copy of a copy is a copy of its representative.
        assert_eq!(store.mark_copy(&c, &b).unwrap(), a);
        let got = store.copies().unwrap();
        assert_eq!(got.get(&b), Some(&a));
        assert_eq!(got.get(&c), Some(&a));
        // The representative becomes a copy of another work: its copies follow.
        assert_eq!(store.mark_copy(&a, &d).unwrap(), d);
        let got = store.copies().unwrap();
        assert!(got.values().all(|r| *r == d), "{got:?}");
        assert_eq!(got.len(), 3);
        // Keep b: everyone in the group is now a copy of b.
        store.keep_representative(&b, &[]).unwrap();
        let got = store.copies().unwrap();
        assert!(!got.contains_key(&b));
        for x in [&a, &c, &d] {
            assert_eq!(got.get(x), Some(&b), "{got:?}");
        }
        assert_eq!(
            copy_labels(&[a.clone(), h('e'), b.clone(), c.clone()], &got),
            [0, 1, 0, 0]
        );
        assert!(store.unmark_copy(&a).unwrap());
        assert!(!store.unmark_copy(&a).unwrap());
        assert_eq!(store.copies().unwrap().len(), 2);
        // Marking a representative a copy of its own copy swaps them.
        assert_eq!(store.mark_copy(&b, &c).unwrap(), c);
        let got = store.copies().unwrap();
        assert_eq!(got.get(&b), Some(&c));
        assert_eq!(got.get(&d), Some(&c));
        assert!(!got.contains_key(&c));
    }
}
