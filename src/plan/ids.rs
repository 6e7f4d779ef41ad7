//! Which task has a given id: the plan's id index, built on every core and looked up many
//! keys at a time.
//!
//! A million-task plan looks up three million dependencies, and each lookup in a table of
//! that size is a cache miss or two. A `HashMap<Arc<str>, TaskIdx>` cost a pass on one core
//! and 24 bytes a bucket; a `hashbrown` table of task positions read its control bytes and
//! its buckets from two places, two misses a key. Here one 8-byte slot holds a task's
//! position and 32 bits of its id's hash, so a key costs one miss to find its candidate,
//! and [`IdIndex::get_many`] reads the slots of a batch of keys before it compares any of
//! them, so that their misses overlap instead of following each other.
//!
//! The ids are hashed first, on every core, and the table is split by hash into shards that
//! fill in parallel, each in task order. What the index says, and which tasks it reports
//! as duplicates, do not depend on the number of cores.

use super::{BuildFnv, TaskIdx};
use rayon::prelude::*;
use std::hash::BuildHasher;

/// Shards of the table: a few per core, so that the cores share the work evenly.
const SHARDS: usize = 8;

/// Keys whose slots [`IdIndex::get_many`] reads before comparing any: enough misses in
/// flight to fill a core's queue of outstanding loads.
const BATCH: usize = 16;

/// Which task has each id. Only looked up, never iterated: no hashing order is seen.
#[derive(Debug, Clone, Default)]
pub(super) struct IdIndex {
    shards: Vec<Shard>,
}

/// One shard: open addressing with linear probing, at most half full. A slot is 0 when
/// empty, else the low 32 bits of its id's hash above its task's position plus one.
#[derive(Debug, Clone)]
struct Shard {
    slots: Vec<u64>,
    /// `64 - log2(slots.len())`: a hash's home slot is the top bits of its mix.
    shift: u32,
}

/// The hash of an id (FNV-1a, as the plan's other lookups).
fn hash(id: &str) -> u64 {
    BuildFnv.hash_one(id)
}

/// The shard of a hash, from bits the tag does not keep, so that all 32 bits of the tag
/// still tell apart the ids of one shard.
fn shard(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// What a slot keeps of a hash, to pass over most other ids without reading them.
fn tag(hash: u64) -> u64 {
    hash & 0xffff_ffff
}

/// The slot of task `task` whose id hashes to `hash`.
fn slot(hash: u64, task: usize) -> u64 {
    (tag(hash) << 32) | (task as u64 + 1)
}

impl Shard {
    /// An empty shard for `count` ids.
    fn with_capacity(count: usize) -> Shard {
        let len = (count * 2).next_power_of_two().max(2);
        Shard {
            slots: vec![0; len],
            shift: 64 - len.trailing_zeros(),
        }
    }

    /// Where a probe for `hash` starts. FNV's low bits are its weakest, so the home slot
    /// is taken from the top of a multiplicative mix of all of them (Fibonacci hashing).
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The task whose id is `key`, probing from `at`, whose slot holds `first`; else the
    /// empty slot that ends the probe, where `key` would go.
    fn probe<'a>(
        &self,
        key: &str,
        hash: u64,
        mut at: usize,
        mut first: u64,
        id: &impl Fn(usize) -> &'a str,
    ) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        loop {
            if first == 0 {
                return Err(at);
            }
            if first >> 32 == tag(hash) {
                let task = (first & 0xffff_ffff) as usize - 1;
                if id(task) == key {
                    return Ok(task);
                }
            }
            at = (at + 1) & mask;
            first = self.slots[at];
        }
    }

    /// The task whose id is `key`, probing from its home slot.
    fn find<'a>(&self, key: &str, hash: u64, id: &impl Fn(usize) -> &'a str) -> Option<usize> {
        let home = self.home(hash);
        self.probe(key, hash, home, self.slots[home], id).ok()
    }

    /// Adds task `task` whose id is `key`, unless a task with that id is there already:
    /// then that task.
    fn insert<'a>(
        &mut self,
        key: &str,
        hash: u64,
        task: usize,
        id: &impl Fn(usize) -> &'a str,
    ) -> Option<usize> {
        let home = self.home(hash);
        match self.probe(key, hash, home, self.slots[home], id) {
            Ok(first) => Some(first),
            Err(empty) => {
                self.slots[empty] = slot(hash, task);
                None
            }
        }
    }
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
            let mut table = Shard::with_capacity(sizes[s]);
            let mut duplicates = Vec::new();
            for (i, &h) in hashes.iter().enumerate() {
                if shard(h) != s {
                    continue;
                }
                if let Some(first) = table.insert(id(i), h, i, &id) {
                    duplicates.push((i, first));
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
        let task = self.shards.get(shard(h))?.find(key, h, &id)?;
        Some(TaskIdx(task as u32))
    }

    /// [`IdIndex::get`] of every key, appended to `found` in the keys' order. The home
    /// slots of a batch of keys are all read before any key is compared, so that their
    /// cache misses overlap.
    pub(super) fn get_many<'a>(
        &self,
        keys: &[&str],
        id: &impl Fn(usize) -> &'a str,
        found: &mut Vec<Option<TaskIdx>>,
    ) {
        if self.shards.is_empty() {
            found.extend(keys.iter().map(|_| None));
            return;
        }
        for batch in keys.chunks(BATCH) {
            let mut hashes = [0u64; BATCH];
            let mut homes = [0usize; BATCH];
            let mut firsts = [0u64; BATCH];
            for (k, key) in batch.iter().enumerate() {
                let h = hash(key);
                hashes[k] = h;
                homes[k] = self.shards[shard(h)].home(h);
            }
            // Apart from the hashing, so that all the loads fit in the core's window.
            for k in 0..batch.len() {
                firsts[k] = self.shards[shard(hashes[k])].slots[homes[k]];
            }
            for (k, key) in batch.iter().enumerate() {
                let h = hashes[k];
                let task = self.shards[shard(h)].probe(key, h, homes[k], firsts[k], id);
                found.push(task.ok().map(|t| TaskIdx(t as u32)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Against the obvious map: the first task of each id, every later one a duplicate, on
    /// one core or several, one key at a time or many.
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
        let id = |j: usize| ids[j].as_str();
        // Every id, ids of no task (among them the empty one), in an order that is neither
        // the tasks' nor sorted, and more of them than a batch.
        let mut keys: Vec<String> = (0..2300).map(|i| format!("t{}", (i * 31) % 2300)).collect();
        keys.push(String::new());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let expected: Vec<Option<TaskIdx>> = keys
            .iter()
            .map(|k| first.get(k).map(|&i| TaskIdx(i as u32)))
            .collect();
        for parallel in [false, true] {
            let (index, duplicates) = IdIndex::build(ids.len(), id, parallel);
            assert_eq!(duplicates, expected_duplicates);
            for (key, &i) in &first {
                assert_eq!(index.get(key, id), Some(TaskIdx(i as u32)));
            }
            assert_eq!(index.get("t2100", id), None);
            assert_eq!(index.get("", id), None);
            let mut found = vec![Some(TaskIdx(7))];
            index.get_many(&keys, &id, &mut found);
            assert_eq!(found[0], Some(TaskIdx(7)), "appended, not overwritten");
            assert_eq!(found[1..], expected[..]);
        }
        let (empty, none) = IdIndex::build(0, id, true);
        assert!(none.is_empty());
        assert_eq!(empty.get("t0", id), None);
        assert_eq!(IdIndex::default().get("t0", id), None);
        let mut found = Vec::new();
        IdIndex::default().get_many(&keys[..3], &id, &mut found);
        assert_eq!(found, [None, None, None]);
    }

    /// Ids whose hashes share their home slot and their tag still find their own tasks:
    /// the comparison of the ids decides, not the hash.
    #[test]
    fn colliding_slots_are_told_apart_by_the_id() {
        let mut shard = Shard::with_capacity(4);
        let ids = ["a", "b", "c"];
        let id = |j: usize| ids[j];
        // Every id given the same hash: one home slot, one tag, a run of three.
        for (task, key) in ids.iter().enumerate() {
            assert_eq!(shard.insert(key, 42, task, &id), None);
        }
        assert_eq!(shard.insert("b", 42, 9, &id), Some(1), "a duplicate");
        for (task, key) in ids.iter().enumerate() {
            assert_eq!(shard.find(key, 42, &id), Some(task));
        }
        assert_eq!(shard.find("d", 42, &id), None);
        assert_eq!(shard.slots.iter().filter(|&&s| s != 0).count(), 3);
    }
}
