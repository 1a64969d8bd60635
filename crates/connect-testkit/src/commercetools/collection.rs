//! Resources of one type by id, and the query machinery every type shares.

use std::collections::BTreeMap;
use std::ops::Bound;

use connect_commercetools::PagedQueryResponse;

use super::predicate::{Fields, Predicate, Sort};

/// What a query asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct QuerySpec {
    pub(super) predicates: Vec<Predicate>,
    pub(super) sort: Vec<Sort>,
    pub(super) limit: usize,
    pub(super) offset: usize,
    pub(super) with_total: bool,
}

/// A stored resource: its id and the fields queries read.
pub(super) trait Resource: Fields + Clone {
    /// The resource id.
    fn id(&self) -> &str;
}

impl Resource for connect_commercetools::Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Resource for serde_json::Value {
    fn id(&self) -> &str {
        self.get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }
}

/// Every resource of one type, in id order.
#[derive(Debug)]
pub(super) struct Collection<T> {
    items: BTreeMap<String, T>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
        }
    }
}

impl<T: Resource> Collection<T> {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn all(&self) -> Vec<T> {
        self.items.values().cloned().collect()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.items.values()
    }

    pub(super) fn get(&self, id: &str) -> Option<&T> {
        self.items.get(id)
    }

    pub(super) fn insert(&mut self, item: T) {
        self.items.insert(item.id().to_owned(), item);
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<T> {
        self.items.remove(id)
    }

    /// Runs a query. Without a sort the order is `id asc` (the real API
    /// promises no order; a fixed one keeps tests deterministic), and an
    /// `id >` bound scans from there.
    pub(super) fn query(&self, spec: &QuerySpec) -> PagedQueryResponse<T> {
        let natural =
            spec.sort.is_empty() || (spec.sort.len() == 1 && spec.sort[0].is_id_ascending());
        let matches = |c: &&T| spec.predicates.iter().all(|p| p.matches(*c));
        let (results, total) = if natural {
            let lower = spec
                .predicates
                .iter()
                .filter_map(Predicate::id_lower_bound)
                .max_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
            let range = match lower {
                Some((id, true)) => (Bound::Included(id.to_owned()), Bound::Unbounded),
                Some((id, false)) => (Bound::Excluded(id.to_owned()), Bound::Unbounded),
                None => (Bound::Unbounded, Bound::Unbounded),
            };
            let results: Vec<T> = self
                .items
                .range(range.clone())
                .map(|(_, c)| c)
                .filter(matches)
                .skip(spec.offset)
                .take(spec.limit)
                .cloned()
                .collect();
            let total = spec.with_total.then(|| {
                self.items
                    .range(range)
                    .map(|(_, c)| c)
                    .filter(matches)
                    .count()
            });
            (results, total)
        } else {
            let mut all: Vec<&T> = self.items.values().filter(matches).collect();
            all.sort_by(|a, b| {
                spec.sort
                    .iter()
                    .map(|s| s.compare(*a, *b))
                    .find(|o| o.is_ne())
                    .unwrap_or_else(|| a.id().cmp(b.id()))
            });
            let total = all.len();
            let results = all
                .into_iter()
                .skip(spec.offset)
                .take(spec.limit)
                .cloned()
                .collect();
            (results, spec.with_total.then_some(total))
        };
        PagedQueryResponse {
            limit: spec.limit as u64,
            offset: spec.offset as u64,
            count: results.len() as u64,
            total: total.map(|t| t as u64),
            results,
        }
    }
}
