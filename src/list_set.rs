//! A set kept as a list, for the few items one connection or one page holds
//! (its rooms, its joins in flight): a handful is searched as fast in a
//! list, which costs a connection on the server a fraction of a hash
//! set's memory, and the browser bundle no hash table code of its own.

/// Items in the order they came, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSet<T>(Vec<T>);

impl<T> Default for ListSet<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: PartialEq> ListSet<T> {
    pub fn contains(&self, item: &T) -> bool {
        self.0.contains(item)
    }

    /// Adds `item`; false if it was there already.
    pub fn insert(&mut self, item: T) -> bool {
        let new = !self.contains(&item);
        if new {
            // One at a time: most lists hold one or two items, and a `Vec`
            // grows from none to room for four.
            self.0.reserve_exact(1);
            self.0.push(item);
        }
        new
    }

    /// Takes `item` out; false if it was not there.
    pub fn remove(&mut self, item: &T) -> bool {
        let before = self.0.len();
        self.0.retain(|listed| listed != item);
        self.0.len() < before
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_is_kept_once_in_the_order_it_came() {
        let mut set = ListSet::default();
        assert!(set.insert("b"));
        assert!(set.insert("a"));
        assert!(!set.insert("b"), "already there");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), ["b", "a"]);
        assert!(set.contains(&"a") && set.len() == 2);
        assert!(set.remove(&"b"));
        assert!(!set.remove(&"b"), "already gone");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), ["a"]);
        set.clear();
        assert!(set.is_empty());
    }
}
