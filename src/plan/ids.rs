//! Which task has a given id: the plan's id index, built on every core.
//!
//! A map from each id to its task, as a `HashMap<Arc<str>, TaskIdx>`, cost a million-task
//! build a pass on one core: per task an atomic increment on the id's own allocation (to
//! clone the key), and 24 bytes per bucket. Here the table holds task positions only
//! (4 bytes a bucket) and reads an id only to compare it with a key whose hash matched;
//! the ids are hashed first, on every core, and the table is split by hash into shards
//! that fill in parallel, each in task order. What the index says, and which tasks it
//! reports as duplicates, do not depend on the number of cores.

use super::{BuildFnv, TaskIdx};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rayon::prelude::*;
use std::hash::BuildHasher;

/// Shards of the table: a few per core, so that the cores share the work evenly.
const SHARDS: usize = 8;

/// Which task has each id. Only looked up, never iterated: no hashing order is seen.
#[derive(Debug, Clone, Default)]
pub(super) struct IdIndex {
    shards: Vec<HashTable<u32>>,
}

/// The hash of an id (FNV-1a, as the plan's other lookups).
fn hash(id: &str) -> u64 {
    BuildFnv.hash_one(id)
}

/// The shard of a hash. The table itself reads the low bits (the bucket) and the top seven
/// (a tag per bucket), so the shard is taken from bits it does not use.
fn shard(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

impl IdIndex {
    /// The index of `n` tasks whose ids `id` gives, and each task whose id an earlier task
    /// already has, as `(task, first task with that id)`, in task order. On every core when
    /// `parallel`.
    pub(super) fn build<'a>(
        n: usize,
        id: impl Fn(usize) -> &'a str + Sync,
        parallel: bool,
    ) -> (IdIndex, Vec<(usize, usize)>) {
        assert!(n < u32::MAX as usize, "task positions fit in 32 bits");
        let hashes: Vec<u64> = if parallel {
            (0..n).into_par_iter().map(|i| hash(id(i))).collect()
        } else {
            (0..n).map(|i| hash(id(i))).collect()
        };
        let mut sizes = [0; SHARDS];
        for &h in &hashes {
            sizes[shard(h)] += 1;
        }
        let fill = |s: usize| {
            let mut table = HashTable::with_capacity(sizes[s]);
            let mut duplicates = Vec::new();
            for (i, &h) in hashes.iter().enumerate() {
                if shard(h) != s {
                    continue;
                }
                let same = |&j: &u32| id(j as usize) == id(i);
                match table.entry(h, same, |&j| hashes[j as usize]) {
                    Entry::Occupied(first) => duplicates.push((i, *first.get() as usize)),
                    Entry::Vacant(slot) => {
                        slot.insert(i as u32);
                    }
                }
            }
            (table, duplicates)
        };
        let filled: Vec<_> = if parallel {
            (0..SHARDS).into_par_iter().map(fill).collect()
        } else {
            (0..SHARDS).map(fill).collect()
        };
        let mut shards = Vec::with_capacity(SHARDS);
        let mut duplicates = Vec::new();
        for (table, found) in filled {
            shards.push(table);
            duplicates.extend(found);
        }
        duplicates.sort_unstable();
        (IdIndex { shards }, duplicates)
    }

    /// The task whose id is `key`, where `id` gives each task's id (the ids the index was
    /// built from).
    pub(super) fn get<'a>(&self, key: &str, id: impl Fn(usize) -> &'a str) -> Option<TaskIdx> {
        let h = hash(key);
        self.shards
            .get(shard(h))?
            .find(h, |&j| id(j as usize) == key)
            .map(|&j| TaskIdx(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Against the obvious map: the first task of each id, every later one a duplicate, on
    /// one core or several.
    #[test]
    fn the_index_is_the_first_task_of_each_id() {
        let ids: Vec<String> = (0..3000)
            .map(|i| format!("t{}", (i * 7919) % 2100))
            .collect();
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        let mut expected_duplicates = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match first.get(id.as_str()) {
                Some(&j) => expected_duplicates.push((i, j)),
                None => {
                    first.insert(id, i);
                }
            }
        }
        for parallel in [false, true] {
            let (index, duplicates) = IdIndex::build(ids.len(), |i| &ids[i], parallel);
            assert_eq!(duplicates, expected_duplicates);
            for (id, &i) in &first {
                assert_eq!(index.get(id, |j| &ids[j]), Some(TaskIdx(i as u32)));
            }
            assert_eq!(index.get("t2100", |j| &ids[j]), None);
            assert_eq!(index.get("", |j| &ids[j]), None);
        }
        let (empty, none) = IdIndex::build(0, |i| &ids[i], true);
        assert!(none.is_empty());
        assert_eq!(empty.get("t0", |j| &ids[j]), None);
        assert_eq!(IdIndex::default().get("t0", |j| &ids[j]), None);
    }
}
