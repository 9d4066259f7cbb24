//! Facts the hub reads often and that never change once read, kept in memory: a bound
//! registration's payment facts, the caller a token belongs to, a merchant's payout account.
//! There is no way to change what is kept (a token is not revoked or reassigned, a merchant's
//! payout account is fixed when it is made), with one exception that is harmless: a revoked
//! registration stays kept as bound, but no payment reaches it, because a payment first reads
//! its code's row and the revocation deleted that row (see `registration::PAYERS_CACHED_MAX`).
//! Whoever adds another way to change a kept fact must make sure no stale entry is used.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// A bounded map: when it holds `max` entries it starts over (rare, and simpler than an LRU for
/// facts that are cheap to read again).
pub(crate) struct Remembered<K, V> {
    max: usize,
    entries: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    pub(crate) fn new(max: usize) -> Remembered<K, V> {
        Remembered {
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().expect("not poisoned").get(key).cloned()
    }

    pub(crate) fn keep(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.max {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_at_most_its_bound_then_starts_over() {
        let kept = Remembered::new(2);
        kept.keep(1, "a");
        kept.keep(2, "b");
        assert_eq!((kept.get(&1), kept.get(&2)), (Some("a"), Some("b")));
        kept.keep(3, "c");
        assert_eq!((kept.get(&1), kept.get(&3)), (None, Some("c")));
    }
}
