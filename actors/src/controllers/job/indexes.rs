//! Completion indexes of Indexed Jobs (upstream's `indexed_job_utils.go`): the ordered
//! set behind `status.completedIndexes` / `failedIndexes` ("1,3-5"), a pod's index, and
//! which indexes still need a pod.

use std::collections::BTreeSet;
use std::fmt;

use api::model::{job_keys, Pod};

/// A set of completion indexes, written as upstream writes it: ascending, runs of
/// consecutive indexes as `first-last`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexes(BTreeSet<i32>);

impl Indexes {
    /// Parses `1,3-5`, keeping the indexes below `completions`; malformed parts are
    /// skipped (upstream logs and ignores them).
    pub fn parse(s: Option<&str>, completions: i32) -> Self {
        let mut out = BTreeSet::new();
        for part in s.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            if let (Ok(a), Ok(b)) = (a, b) {
                if a >= 0 && a <= b {
                    out.extend((a..=b.min(completions - 1)).filter(|i| *i < completions));
                }
            }
        }
        Indexes(out)
    }

    pub fn insert(&mut self, i: i32) -> bool {
        self.0.insert(i)
    }

    pub fn contains(&self, i: i32) -> bool {
        self.0.contains(&i)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Indexes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut it = self.0.iter().copied().peekable();
        while let Some(start) = it.next() {
            let mut end = start;
            while it.peek() == Some(&(end + 1)) {
                end += 1;
                it.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end > start {
                write!(f, "{start}-{end}")?;
            } else {
                write!(f, "{start}")?;
            }
        }
        Ok(())
    }
}

/// The pod's completion index, from its annotation (then its label), if valid.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let m = &pod.metadata;
    let v = m.annotations.get(job_keys::COMPLETION_INDEX).or_else(|| m.labels.get(job_keys::COMPLETION_INDEX))?;
    v.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// The index of a pod if it lies in `0..completions`.
pub fn valid_index(pod: &Pod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions)
}

/// The lowest `count` indexes below `completions` that are in none of `taken`
/// (succeeded, failed, with an active pod, …) — upstream's `firstPendingIndexes`.
pub fn first_pending(count: usize, completions: i32, taken: &[&Indexes]) -> Vec<i32> {
    (0..completions).filter(|i| taken.iter().all(|t| !t.contains(*i))).take(count).collect()
}

impl FromIterator<i32> for Indexes {
    fn from_iter<I: IntoIterator<Item = i32>>(iter: I) -> Self {
        Indexes(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_runs_as_upstream() {
        let ix = Indexes::parse(Some("0,2-4,7,9-10"), 10);
        assert_eq!(ix.iter().collect::<Vec<_>>(), [0, 2, 3, 4, 7, 9]);
        assert_eq!(ix.to_string(), "0,2-4,7,9");
        assert_eq!(Indexes::parse(Some("x,3-1,5"), 10).to_string(), "5", "malformed parts are skipped");
        assert_eq!(Indexes::parse(None, 3).to_string(), "");
        assert_eq!([1, 2].into_iter().collect::<Indexes>().to_string(), "1-2");
    }

    #[test]
    fn first_pending_skips_taken_indexes() {
        let done: Indexes = [0, 1, 3].into_iter().collect();
        let active: Indexes = [2].into_iter().collect();
        assert_eq!(first_pending(2, 10, &[&done, &active]), [4, 5]);
        assert_eq!(first_pending(10, 5, &[&done, &active]), [4]);
    }

    #[test]
    fn a_pods_index_comes_from_its_annotation() {
        let mut p = Pod::default();
        assert_eq!(completion_index(&p), None);
        p.metadata.annotations.insert(job_keys::COMPLETION_INDEX.into(), "3".into());
        assert_eq!(valid_index(&p, 4), Some(3));
        assert_eq!(valid_index(&p, 3), None);
        p.metadata.annotations.insert(job_keys::COMPLETION_INDEX.into(), "-1".into());
        assert_eq!(completion_index(&p), None);
    }
}
