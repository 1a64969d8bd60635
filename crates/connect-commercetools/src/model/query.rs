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

/// A full scan of a resource: cursor paging on `id`, one page in memory at
/// a time (see [`CommercetoolsClient::scan`](crate::CommercetoolsClient::scan)
/// and [`scan_customers`](crate::CommercetoolsClient::scan_customers)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub(crate) predicate: Option<String>,
    pub(crate) page_size: u32,
    pub(crate) after: Option<String>,
}

impl Default for Scan {
    fn default() -> Self {
        Self::all()
    }
}

impl Scan {
    /// Every resource, in pages of [`MAX_LIMIT`].
    pub fn all() -> Self {
        Self {
            predicate: None,
            page_size: MAX_LIMIT,
            after: None,
        }
    }

    /// Starts after the resource with id `id` (exclusive): resumes an
    /// interrupted scan from its cursor.
    #[must_use]
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.after = Some(id.into());
        self
    }

    /// Only resources matching `predicate` (combined with the cursor by `and`),
    /// e.g. `lastModifiedAt > "2024-01-01T00:00:00.000Z"`.
    #[doc(alias = "where")]
    #[must_use]
    pub fn predicate(mut self, predicate: impl Into<String>) -> Self {
        self.predicate = Some(predicate.into());
        self
    }

    /// Sets the page size (1 to [`MAX_LIMIT`]).
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The query for the page after the resource with id `after` (the
    /// first page when `None`): `sort=id asc`, `limit`, `withTotal=false`,
    /// `where=id > "<after>"` and the scan's predicate.
    pub fn page_query(&self, after: Option<&str>) -> Query {
        let mut query = Query::new()
            .sort("id asc")
            .limit(self.page_size)
            .with_total(false);
        if let Some(after) = after {
            query = query.predicate(format!("id > {}", string_literal(after)));
        }
        if let Some(predicate) = &self.predicate {
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
