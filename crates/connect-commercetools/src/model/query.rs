//! Query parameters and paged results.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The largest `limit` commercetools accepts.
pub const MAX_LIMIT: u32 = 500;
/// The largest `offset` commercetools accepts (use cursor paging beyond it).
pub const MAX_OFFSET: u32 = 10_000;

/// One page of a query: `GET /{projectKey}/{resources}` answers with this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagedQueryResponse<T> {
    /// The `limit` the query used.
    pub limit: u64,
    /// The `offset` the query used.
    pub offset: u64,
    /// How many results this page holds.
    pub count: u64,
    /// How many results match in total (only with `withTotal=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The results.
    pub results: Vec<T>,
}

/// A query of any resource: `where` predicates, sorting and paging.
///
/// Several predicates are all required (each is sent as its own `where`
/// parameter, which commercetools combines with `and`).
///
/// ```
/// use connect_commercetools::{Query, string_literal};
///
/// let query = Query::new()
///     .predicate(format!("email = {}", string_literal("ada@example.com")))
///     .sort("lastModifiedAt desc")
///     .limit(10)
///     .with_total(false);
/// assert!(query.validate().is_ok());
/// assert!(Query::new().limit(501).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    predicates: Vec<String>,
    sort: Vec<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    with_total: Option<bool>,
}

impl Query {
    /// An empty query (every resource, commercetools' default page of 20).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a `where` predicate, e.g. `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    /// Quote values with [`string_literal`].
    #[doc(alias = "where")]
    #[must_use]
    pub fn predicate(mut self, predicate: impl Into<String>) -> Self {
        self.predicates.push(predicate.into());
        self
    }

    /// Adds a sort expression, e.g. `id asc`.
    #[must_use]
    pub fn sort(mut self, sort: impl Into<String>) -> Self {
        self.sort.push(sort.into());
        self
    }

    /// Sets the page size (at most [`MAX_LIMIT`]).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the number of results to skip (at most [`MAX_OFFSET`]).
    #[must_use]
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Asks for (`true`, the API's default) or skips (`false`, faster) the total.
    #[must_use]
    pub fn with_total(mut self, with_total: bool) -> Self {
        self.with_total = Some(with_total);
        self
    }

    /// The `where` predicates.
    pub fn predicates(&self) -> &[String] {
        &self.predicates
    }

    /// Checks the limits commercetools enforces, before any request is sent.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(limit) = self.limit
            && limit > MAX_LIMIT
        {
            return Err(Error::invalid_request(format!(
                "limit {limit} is over commercetools' maximum of {MAX_LIMIT}; page with a smaller limit or use a scan (CommercetoolsClient::scan, scan_json or scan_customers)"
            )));
        }
        if let Some(offset) = self.offset
            && offset > MAX_OFFSET
        {
            return Err(Error::invalid_request(format!(
                "offset {offset} is over commercetools' maximum of {MAX_OFFSET}; use a scan (CommercetoolsClient::scan, scan_json or scan_customers: cursor paging on id) to read further"
            )));
        }
        if let Some(empty) = self.predicates.iter().position(|p| p.trim().is_empty()) {
            return Err(Error::invalid_request(format!(
                "where predicate #{} is empty; remove it or write e.g. `email = \"a@b.c\"`",
                empty + 1
            )));
        }
        Ok(())
    }

    /// The query string parameters, in order.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(self.predicates.len() + self.sort.len() + 3);
        pairs.extend(self.predicates.iter().map(|p| ("where", p.clone())));
        pairs.extend(self.sort.iter().map(|s| ("sort", s.clone())));
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(offset) = self.offset {
            pairs.push(("offset", offset.to_string()));
        }
        if let Some(with_total) = self.with_total {
            pairs.push(("withTotal", with_total.to_string()));
        }
        pairs
    }
}

/// The order a [`Scan`] pages in, which is also the key its cursor pages
/// on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ScanOrder {
    /// `sort=id asc`, paging on `id > "<last id>"` (a full load).
    #[default]
    Id,
    /// `sort=lastModifiedAt asc` then `sort=id asc`, paging on
    /// `lastModifiedAt > "<t>" or (lastModifiedAt = "<t>" and id > "<id>")`
    /// (a delta scan: what changed since a point in time).
    LastModified,
}

/// Where a scan is: the key of the last resource read, in the scan's
/// [`ScanOrder`]. Keys compare by `lastModifiedAt` first (when set), then
/// by `id`; every page of a scan must ascend strictly by this key.
///
/// ```
/// use connect_commercetools::ScanKey;
///
/// let a = ScanKey::modified("2024-01-01T00:00:00.000Z".parse().unwrap(), "b");
/// let b = ScanKey::modified("2024-01-01T00:00:00.000Z".parse().unwrap(), "c");
/// let c = ScanKey::modified("2024-01-02T00:00:00.000Z".parse().unwrap(), "a");
/// assert!(a < b && b < c);
/// assert_eq!(c.to_string(), "lastModifiedAt 2024-01-02T00:00:00.000Z, id a");
/// assert!(ScanKey::id("a") < ScanKey::id("b"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScanKey {
    /// `lastModifiedAt`, for a scan in [`ScanOrder::LastModified`].
    pub last_modified_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The resource id.
    pub id: String,
}

impl ScanKey {
    /// The key of a scan by id.
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            last_modified_at: None,
            id: id.into(),
        }
    }

    /// The key of a scan by `lastModifiedAt`, then id.
    pub fn modified(
        last_modified_at: chrono::DateTime<chrono::Utc>,
        id: impl Into<String>,
    ) -> Self {
        Self {
            last_modified_at: Some(last_modified_at),
            id: id.into(),
        }
    }

    /// The key of `resource` (JSON with `id`, and `lastModifiedAt` for
    /// [`ScanOrder::LastModified`]) in `order`; the error says what is
    /// missing.
    pub fn of_json(resource: &serde_json::Value, order: ScanOrder) -> Result<Self, String> {
        let id = resource
            .get("id")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| "it has no string `id` to page on".to_owned())?;
        match order {
            ScanOrder::Id => Ok(Self::id(id)),
            ScanOrder::LastModified => {
                let text = resource
                    .get("lastModifiedAt")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| format!("`{id}` has no string `lastModifiedAt` to page on"))?;
                let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
                    format!("`{id}` has a `lastModifiedAt` that is not RFC 3339 (`{text}`: {e})")
                })?;
                Ok(Self::modified(at.with_timezone(&chrono::Utc), id))
            }
        }
    }
}

impl std::fmt::Display for ScanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.last_modified_at {
            None => f.write_str(&self.id),
            Some(at) => write!(
                f,
                "lastModifiedAt {}, id {}",
                crate::model::datetime::format(at),
                self.id
            ),
        }
    }
}

/// A full scan of a resource: cursor paging on `id` (or on
/// `lastModifiedAt` and `id`, see [`by_last_modified`](Self::by_last_modified)),
/// one page in memory at a time (see
/// [`CommercetoolsClient::scan`](crate::CommercetoolsClient::scan)
/// and [`scan_customers`](crate::CommercetoolsClient::scan_customers)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub(crate) predicates: Vec<String>,
    pub(crate) page_size: u32,
    pub(crate) order: ScanOrder,
    pub(crate) after: Option<ScanKey>,
}

impl Default for Scan {
    fn default() -> Self {
        Self::all()
    }
}

impl Scan {
    /// Every resource, in pages of [`MAX_LIMIT`], by id.
    pub fn all() -> Self {
        Self {
            predicates: Vec::new(),
            page_size: MAX_LIMIT,
            order: ScanOrder::Id,
            after: None,
        }
    }

    /// Starts after the resource with id `id` (exclusive): resumes an
    /// interrupted scan from its cursor.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after = Some(ScanKey::id(id));
        self
    }

    /// Pages by `lastModifiedAt asc`, then `id asc` (see
    /// [`ScanOrder::LastModified`]); only `scan_json` reads the key of such a
    /// scan. Combine with a `lastModifiedAt >= "<t>"` predicate to read what
    /// changed since `t`.
    #[must_use]
    pub fn by_last_modified(mut self) -> Self {
        self.order = ScanOrder::LastModified;
        if let Some(after) = &self.after
            && after.last_modified_at.is_none()
        {
            self.after = None;
        }
        self
    }

    /// Starts after `key` (exclusive), in the scan's order: a key with a
    /// `lastModifiedAt` also switches to [`ScanOrder::LastModified`].
    #[must_use]
    pub fn after_key(mut self, key: ScanKey) -> Self {
        if key.last_modified_at.is_some() {
            self.order = ScanOrder::LastModified;
        }
        self.after = Some(key);
        self
    }

    /// Only resources matching `predicate` (each predicate is its own
    /// `where`, combined with the others and the cursor by `and`), e.g.
    /// `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    #[doc(alias = "where")]
    #[must_use]
    pub fn predicate(mut self, predicate: impl Into<String>) -> Self {
        self.predicates.push(predicate.into());
        self
    }

    /// Sets the page size (1 to [`MAX_LIMIT`]).
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The order it pages in.
    pub fn order(&self) -> ScanOrder {
        self.order
    }

    /// The query for the page after the resource with id `after` (the
    /// first page when `None`): `sort=id asc`, `limit`, `withTotal=false`,
    /// `where=id > "<after>"` and the scan's predicates.
    pub fn page_query(&self, after: Option<&str>) -> Query {
        self.page_query_after(after.map(ScanKey::id).as_ref())
    }

    /// The query for the page after `after` in the scan's order (the first
    /// page when `None`). By id as [`page_query`](Self::page_query); by
    /// `lastModifiedAt`: `sort=lastModifiedAt asc`, `sort=id asc` and, after
    /// a key, `where=lastModifiedAt > "<t>" or (lastModifiedAt = "<t>" and
    /// id > "<id>")`.
    pub fn page_query_after(&self, after: Option<&ScanKey>) -> Query {
        let mut query = match self.order {
            ScanOrder::Id => Query::new().sort("id asc"),
            ScanOrder::LastModified => Query::new().sort("lastModifiedAt asc").sort("id asc"),
        }
        .limit(self.page_size)
        .with_total(false);
        match (self.order, after) {
            (_, None) => {}
            (
                ScanOrder::LastModified,
                Some(ScanKey {
                    last_modified_at: Some(at),
                    id,
                }),
            ) => {
                let at = string_literal(&crate::model::datetime::format(at));
                query = query.predicate(format!(
                    "lastModifiedAt > {at} or (lastModifiedAt = {at} and id > {})",
                    string_literal(id)
                ));
            }
            (_, Some(after)) => {
                query = query.predicate(format!("id > {}", string_literal(&after.id)));
            }
        }
        for predicate in &self.predicates {
            query = query.predicate(predicate.clone());
        }
        query
    }
}

/// The former name of [`Query`], kept for existing callers.
pub type CustomerQuery = Query;

/// The former name of [`Scan`], kept for existing callers.
pub type CustomerScan = Scan;

/// Quotes `value` as a predicate string literal: `"..."` with `"` and `\`
/// escaped.
///
/// ```
/// assert_eq!(connect_commercetools::string_literal(r#"a"b"#), r#""a\"b""#);
/// ```
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
