//! [`Live`]: a value that running tasks read and a configuration reload (`SIGHUP`)
//! replaces as a whole. Readers take a cheap snapshot (`Arc`) and keep it for as long as
//! they need a consistent view (a session keeps its listener's settings from accept to
//! close); a replacement is seen by the next reader. Nothing is ever half-updated.

use std::sync::{Arc, RwLock};

pub struct Live<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Live<T> {
    pub fn new(value: T) -> Live<T> {
        Live { current: RwLock::new(Arc::new(value)) }
    }

    /// The current value, as one snapshot.
    pub fn load(&self) -> Arc<T> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the value; readers holding the old snapshot keep it.
    pub fn store(&self, value: T) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

impl<T: Default> Default for Live<T> {
    fn default() -> Live<T> {
        Live::new(T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Live").field(&self.load()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_survives_a_replacement() {
        let live = Live::new(vec![1]);
        let before = live.load();
        live.store(vec![2, 3]);
        assert_eq!(*before, vec![1]);
        assert_eq!(*live.load(), vec![2, 3]);
    }
}
