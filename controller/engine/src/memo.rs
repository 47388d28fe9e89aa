//! Results kept from one reading of the resources to the next, by name, for as long as what
//! they were computed from is the same. A controller reads every resource at each batch; at
//! 10,000 ShopSets, deserialising and checking each spec and status again cost more than the
//! rest of a one-ShopSet change.

use std::collections::HashMap;

use serde_json::Value;

/// A result computed from a JSON value, kept per name while that value does not change.
#[derive(Debug)]
pub struct Memo<T> {
    /// What the last reading kept.
    previous: HashMap<String, (Seen, T)>,
    /// What this reading asked for so far.
    current: HashMap<String, (Seen, T)>,
}

/// What a kept result was computed from.
#[derive(Debug, PartialEq)]
enum Seen {
    /// An object at this version (the API server's `resourceVersion`: any change of the
    /// object gives it a new one).
    Version(String),
    /// This value.
    Value(Value),
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self {
            previous: HashMap::new(),
            current: HashMap::new(),
        }
    }
}

impl<T: Clone> Memo<T> {
    /// `compute(input)`, or the result kept for `name` when it was computed from the same
    /// object `version` (when given) or else from an equal value: a clone of the result is
    /// all a kept one costs.
    pub fn get(
        &mut self,
        name: &str,
        input: &Value,
        version: Option<&str>,
        compute: impl FnOnce(&Value) -> T,
    ) -> T {
        let same = |seen: &Seen| match (seen, version) {
            (Seen::Version(seen), Some(version)) => seen == version,
            (Seen::Value(seen), None) => seen == input,
            _ => false,
        };
        if let Some((seen, kept)) = self.current.get(name)
            && same(seen)
        {
            return kept.clone();
        }
        let entry = match self.previous.remove(name) {
            Some((seen, kept)) if same(&seen) => (seen, kept),
            _ => {
                let seen = version.map_or_else(
                    || Seen::Value(input.clone()),
                    |v| Seen::Version(v.to_owned()),
                );
                (seen, compute(input))
            }
        };
        let out = entry.1.clone();
        self.current.insert(name.to_owned(), entry);
        out
    }

    /// Ends a reading: what it did not ask for (a deleted resource) is forgotten.
    pub fn round(&mut self) {
        let size = self.current.len();
        self.previous = std::mem::replace(&mut self.current, HashMap::with_capacity(size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_is_kept_while_its_value_or_version_is_the_same() {
        let mut memo: Memo<String> = Memo::default();
        let mut calls = 0;
        let mut get = |memo: &mut Memo<String>, name: &str, v: &Value, version: Option<&str>| {
            memo.get(name, v, version, |v| {
                calls += 1;
                v.to_string()
            })
        };
        assert_eq!(get(&mut memo, "a", &json!({"x": 1}), None), r#"{"x":1}"#);
        memo.round();
        // Unchanged: kept. Changed: computed again.
        assert_eq!(get(&mut memo, "a", &json!({"x": 1}), None), r#"{"x":1}"#);
        assert_eq!(get(&mut memo, "b", &json!(2), Some("7")), "2");
        memo.round();
        assert_eq!(get(&mut memo, "a", &json!({"x": 3}), None), r#"{"x":3}"#);
        // The same version is the same object, whatever it is compared with.
        assert_eq!(get(&mut memo, "b", &json!(2), Some("7")), "2");
        memo.round();
        assert_eq!(get(&mut memo, "b", &json!(5), Some("8")), "5");
        // A reading that does not ask for a name forgets it.
        memo.round();
        memo.round();
        assert_eq!(get(&mut memo, "b", &json!(5), Some("8")), "5");
        assert_eq!(calls, 5, "a, b, a changed, b's new version, b forgotten");
    }
}
