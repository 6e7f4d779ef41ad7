//! The idle-agent sets: agents with a free slot, in the order the core hands out work
//! (faster first, then less loaded, then by index).
//!
//! An agent joins or leaves such a set twice per attempt, so this is on the hottest path of
//! the core. An ordered tree of (rank, load, index) keys paid a search and node rebalancing
//! per change; but agents of one speed and load are interchangeable except for their index,
//! and a plan has few distinct speeds and loads. So the agents of one (rank, load) pair
//! share a *bucket*, a bitset over agent indices, and the set keeps its buckets sorted by
//! (rank, load) with a bitset of the non-empty ones: a change is a short binary search and
//! a bit flip, the first member two word scans. Buckets are never removed, so a bucket
//! emptying and refilling at every attempt (every agent busy, one freed and taken again)
//! costs no allocation.

/// A set of agent indices with a two-level index: bit `i % 64` of word `i / 64`, and a
/// summary with one bit per non-zero word. The words start at the first word ever used,
/// so a bucket holding a few agents of high index stays small.
#[derive(Debug, Default, Clone)]
struct Bits {
    /// Index of `words[0]` in the full word array.
    base: usize,
    words: Vec<u64>,
    /// Bit `w % 64` of `summary[w / 64]` is set when `words[w]` is not zero.
    summary: Vec<u64>,
    len: u32,
}

impl Bits {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `i`; returns whether it was absent.
    fn insert(&mut self, i: u32) -> bool {
        let w = i as usize / 64;
        if self.words.is_empty() {
            self.base = w;
        } else if w < self.base {
            // Grow downwards: shift the words and rebuild the summary (rare: only when an
            // agent of lower index than any before joins this bucket).
            let shift = self.base - w;
            self.words.splice(0..0, std::iter::repeat_n(0, shift));
            self.base = w;
            self.rebuild_summary();
        }
        let at = w - self.base;
        if at >= self.words.len() {
            self.words.resize(at + 1, 0);
            self.summary.resize(self.words.len().div_ceil(64), 0);
        }
        let bit = 1u64 << (i % 64);
        if self.words[at] & bit != 0 {
            return false;
        }
        if self.words[at] == 0 {
            self.summary[at / 64] |= 1 << (at % 64);
        }
        self.words[at] |= bit;
        self.len += 1;
        true
    }

    /// Removes `i`; returns whether it was present.
    fn remove(&mut self, i: u32) -> bool {
        let w = i as usize / 64;
        let Some(at) = w.checked_sub(self.base).filter(|&at| at < self.words.len()) else {
            return false;
        };
        let bit = 1u64 << (i % 64);
        if self.words[at] & bit == 0 {
            return false;
        }
        self.words[at] &= !bit;
        if self.words[at] == 0 {
            self.summary[at / 64] &= !(1 << (at % 64));
        }
        self.len -= 1;
        true
    }

    fn rebuild_summary(&mut self) {
        self.summary = vec![0; self.words.len().div_ceil(64)];
        for (at, &word) in self.words.iter().enumerate() {
            if word != 0 {
                self.summary[at / 64] |= 1 << (at % 64);
            }
        }
    }

    /// The smallest member.
    fn first(&self) -> Option<u32> {
        let (s, &summary) = self.summary.iter().enumerate().find(|(_, s)| **s != 0)?;
        let at = s * 64 + summary.trailing_zeros() as usize;
        let bit = self.words[at].trailing_zeros() as usize;
        Some(((self.base + at) * 64 + bit) as u32)
    }

    /// The members in increasing order.
    fn iter(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.words.iter().enumerate().flat_map(move |(at, &word)| {
            let base = (self.base + at) * 64;
            BitIter(word).map(move |bit| (base + bit) as u32)
        })
    }
}

/// The set bits of a word, lowest first.
#[derive(Clone)]
struct BitIter(u64);

impl Iterator for BitIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(bit)
    }
}

/// Agents ordered by `(rank, load, index)`, smallest first. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct IdleSet {
    /// The `(rank, load)` of each bucket, sorted.
    keys: Vec<(u64, u32)>,
    /// The agents of each bucket, by position in `keys`.
    buckets: Vec<Bits>,
    /// The positions of the non-empty buckets.
    nonempty: Bits,
}

impl IdleSet {
    /// Adds the agent under its rank and load; returns whether it was absent.
    pub fn insert(&mut self, rank: u64, load: u32, agent: u32) -> bool {
        let at = match self.keys.binary_search(&(rank, load)) {
            Ok(at) => at,
            Err(at) => {
                // A new (rank, load) pair: the positions after it move up by one. Rare
                // (bounded by the distinct speeds times the loads), so rebuild the index.
                self.keys.insert(at, (rank, load));
                self.buckets.insert(at, Bits::default());
                self.nonempty = Bits::default();
                for (p, bucket) in self.buckets.iter().enumerate() {
                    if !bucket.is_empty() {
                        self.nonempty.insert(p as u32);
                    }
                }
                at
            }
        };
        let bucket = &mut self.buckets[at];
        let was_empty = bucket.is_empty();
        let fresh = bucket.insert(agent);
        if was_empty && fresh {
            self.nonempty.insert(at as u32);
        }
        fresh
    }

    /// Whether no agent is listed.
    pub fn is_empty(&self) -> bool {
        self.nonempty.is_empty()
    }

    /// Removes the agent listed under this rank and load; returns whether it was there.
    pub fn remove(&mut self, rank: u64, load: u32, agent: u32) -> bool {
        let Ok(at) = self.keys.binary_search(&(rank, load)) else {
            return false;
        };
        let bucket = &mut self.buckets[at];
        let removed = bucket.remove(agent);
        if removed && bucket.is_empty() {
            self.nonempty.remove(at as u32);
        }
        removed
    }

    /// The smallest `(rank, load, agent)`.
    pub fn first(&self) -> Option<(u64, u32, u32)> {
        let at = self.nonempty.first()? as usize;
        let (rank, load) = self.keys[at];
        let agent = self.buckets[at]
            .first()
            .expect("a bucket listed as non-empty has a member");
        Some((rank, load, agent))
    }

    /// Every member, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32, u32)> + Clone + '_ {
        self.nonempty.iter().flat_map(move |at| {
            let (rank, load) = self.keys[at as usize];
            self.buckets[at as usize]
                .iter()
                .map(move |agent| (rank, load, agent))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::IdleSet;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The set behaves as an ordered set of (rank, load, agent) keys: the same answers
        /// to insert, remove, first and in-order iteration as a `BTreeSet`.
        #[test]
        fn agrees_with_an_ordered_set(
            ops in prop::collection::vec((any::<bool>(), 0u64..4, 0u32..3, 0u32..300), 1..400)
        ) {
            let mut set = IdleSet::default();
            let mut model = BTreeSet::new();
            for (insert, rank, load, agent) in ops {
                let rank = u64::MAX - rank;
                if insert {
                    prop_assert_eq!(set.insert(rank, load, agent), model.insert((rank, load, agent)));
                } else {
                    prop_assert_eq!(set.remove(rank, load, agent), model.remove(&(rank, load, agent)));
                }
                prop_assert_eq!(set.first(), model.first().copied());
                prop_assert_eq!(set.is_empty(), model.is_empty());
                prop_assert!(set.iter().eq(model.iter().copied()));
            }
        }
    }

    #[test]
    fn grows_downwards_and_upwards() {
        let mut set = IdleSet::default();
        assert!(set.insert(1, 0, 700));
        assert!(set.insert(1, 0, 5));
        assert!(set.insert(1, 0, 9000));
        assert!(!set.insert(1, 0, 5));
        assert_eq!(set.first(), Some((1, 0, 5)));
        assert!(set.remove(1, 0, 5));
        assert!(!set.remove(1, 0, 5));
        assert!(!set.remove(1, 0, 1));
        assert!(!set.remove(2, 0, 700));
        assert_eq!(set.first(), Some((1, 0, 700)));
        assert!(set.insert(0, 3, 8));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![(0, 3, 8), (1, 0, 700), (1, 0, 9000)]
        );
    }
}
