//! Counts in prose for people: a number and the noun or verb that agrees with it, so that
//! no message says "1 agents" or "1 were skipped". ("N of M runs" needs none: the plural
//! reads right for any N.)

use std::fmt;

/// A count and its noun, shown as `3 agents` or `1 agent`: made by [`count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count<N> {
    n: N,
    noun: &'static str,
}

/// `n` and whichever of `one` and `many` agrees with it: `count(1, "policy", "policies")`
/// shows as `1 policy`, `count(0, "policy", "policies")` as `0 policies`.
pub fn count<N: Copy + PartialEq + From<u8>>(
    n: N,
    one: &'static str,
    many: &'static str,
) -> Count<N> {
    let noun = if n == N::from(1) { one } else { many };
    Count { n, noun }
}

impl<N> Count<N> {
    /// The noun alone, for a table that aligns the number apart.
    pub fn noun(&self) -> &'static str {
        self.noun
    }
}

impl<N: fmt::Display> fmt::Display for Count<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.n, self.noun)
    }
}

/// The verb after a count of `n` things: "1 was skipped", "2 were skipped", "0 were".
pub fn was_or_were(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1usize, "agent", "agents").to_string(), "1 agent");
        assert_eq!(count(0usize, "agent", "agents").to_string(), "0 agents");
        assert_eq!(count(2u32, "policy", "policies").to_string(), "2 policies");
        assert_eq!(count(1u64, "seed", "seeds").to_string(), "1 seed");
        assert_eq!(count(11usize, "run", "runs").to_string(), "11 runs");
        assert_eq!(count(1usize, "task", "tasks").noun(), "task");
        assert_eq!(was_or_were(1), "was");
        assert_eq!(was_or_were(0), "were");
        assert_eq!(was_or_were(2), "were");
    }
}
