//! The emulator's HTTP endpoints.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use connect_commercetools::{CustomerDraft, CustomerUpdateAction, MAX_OFFSET};
use serde_json::{Value, json};

use super::codec::{basic_credentials, form_pairs};
use super::collection::QuerySpec;
use super::errors::ApiError;
use super::predicate::{CUSTOMER_FIELDS, Predicate, Sort};
use super::resources::ResourceType;
use super::state::{Access, Counters, ResourceCounters, Shared};
use super::store::Target;

type AppState = State<Arc<Shared>>;

/// The routes (auth and API on one host).
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/{project}/{endpoint}", get(query).post(create))
        .route(
            "/{project}/{endpoint}/{id}",
            get(read).post(update).delete(delete),
        )
        .fallback(not_found)
        .with_state(shared)
}

/// Counts every request, including those a fault answers.
pub(super) async fn count(State(shared): AppState, request: Request, next: Next) -> Response {
    Counters::bump(&shared.counters.http_requests);
    next.run(request).await
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn unknown_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The requested endpoint does not exist in the commercetools emulator.",
    )
}

async fn not_found() -> Response {
    unknown_endpoint().into_response()
}

/// The type served at `endpoint`, after counting the request and checking
/// the token for `access`.
fn resource_type<'s>(
    shared: &'s Shared,
    headers: &HeaderMap,
    project: &str,
    endpoint: &str,
    access: Access,
    counter: fn(&ResourceCounters) -> &AtomicU64,
) -> Result<&'s ResourceType, ApiError> {
    let kind = shared
        .settings
        .resource_type(endpoint)
        .filter(|t| t.endpoint == endpoint)
        .ok_or_else(unknown_endpoint)?;
    shared.count(endpoint, counter);
    shared.authorize(authorization(headers), project, endpoint, access)?;
    Ok(kind)
}

/// `POST /oauth/token` (client credentials; parameters in the query or a
/// form body).
async fn token(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    Counters::bump(&shared.counters.token_requests);
    let settings = &shared.settings;
    let credentials = authorization(&headers).and_then(basic_credentials);
    match credentials {
        Some((id, secret)) if id == settings.client_id && secret == settings.client_secret => {}
        _ => return Err(ApiError::invalid_client()),
    }
    let mut params = form_pairs(query.as_deref().unwrap_or(""));
    params.extend(form_pairs(&String::from_utf8_lossy(&body)));
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match param("grant_type") {
        Some("client_credentials") => {}
        other => return Err(ApiError::unsupported_grant_type(other.unwrap_or("(none)"))),
    }
    let scopes: Vec<String> = match param("scope") {
        Some(scope) if !scope.trim().is_empty() => {
            let requested: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
            if let Some(bad) = requested
                .iter()
                .find(|s| !settings.allowed_scopes.contains(s))
            {
                return Err(ApiError::invalid_scope(bad));
            }
            requested
        }
        _ => settings.allowed_scopes.clone(),
    };
    let scope = scopes.join(" ");
    let access_token = shared.issue_token(scopes);
    Ok(Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": settings.token_lifetime.as_secs(),
        "scope": scope,
    }))
    .into_response())
}

/// `GET /{project}/{endpoint}/{id}`, `/key={key}` and (orders)
/// `/order-number={orderNumber}`.
async fn read(
    State(shared): AppState,
    Path((project, endpoint, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = Target::parse(&id);
    let counter: fn(&ResourceCounters) -> &AtomicU64 = match target {
        Target::Id(_) => |c| &c.gets,
        Target::Key(_) | Target::OrderNumber(_) => |c| &c.key_gets,
    };
    let kind = resource_type(
        &shared,
        &headers,
        &project,
        &endpoint,
        Access::Read,
        counter,
    )?;
    let store = shared.store();
    if kind.is_customer() {
        return Ok(Json(store.get(target)?).into_response());
    }
    Ok(Json(store.get_resource(kind, target)?).into_response())
}

/// `GET /{project}/{endpoint}?where=...&sort=...&limit=...&offset=...&withTotal=...`.
async fn query(
    State(shared): AppState,
    Path((project, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let kind = resource_type(&shared, &headers, &project, &endpoint, Access::Read, |c| {
        &c.queries
    })?;
    let fields = kind.is_customer().then_some(CUSTOMER_FIELDS);
    let mut spec = QuerySpec {
        limit: 20,
        with_total: true,
        ..QuerySpec::default()
    };
    for (name, value) in form_pairs(raw.as_deref().unwrap_or("")) {
        match name.as_str() {
            "where" => spec
                .predicates
                .push(Predicate::parse(&value, fields).map_err(|e| {
                    ApiError::invalid_input(format!(
                        "Malformed parameter: where: {e} (in `{value}`)"
                    ))
                })?),
            "sort" => {
                spec.sort.push(Sort::parse(&value, fields).map_err(|e| {
                    ApiError::invalid_input(format!("Malformed parameter: sort: {e}"))
                })?);
            }
            "limit" => {
                let limit: usize = value.parse().map_err(|_| {
                    ApiError::invalid_input(format!(
                        "Malformed parameter: limit: `{value}` is not a number"
                    ))
                })?;
                if limit > shared.settings.max_limit {
                    return Err(ApiError::invalid_input(format!(
                        "The limit {limit} is too large; the maximum is {}.",
                        shared.settings.max_limit
                    )));
                }
                spec.limit = limit;
            }
            "offset" => {
                let offset: usize = value.parse().map_err(|_| {
                    ApiError::invalid_input(format!(
                        "Malformed parameter: offset: `{value}` is not a number"
                    ))
                })?;
                if offset > MAX_OFFSET as usize {
                    return Err(ApiError::invalid_input(format!(
                        "The offset {offset} is too large; the maximum is {MAX_OFFSET}."
                    )));
                }
                spec.offset = offset;
            }
            "withTotal" => {
                spec.with_total = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ApiError::invalid_input(format!(
                            "Malformed parameter: withTotal: `{other}` is not a boolean"
                        )));
                    }
                };
            }
            _ => {}
        }
    }
    let unordered = shared.unordered_pages();
    let returned = |count: usize| {
        if let Some(counters) = shared.counters.resources.get(&endpoint) {
            counters
                .query_results
                .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let store = shared.store();
    if kind.is_customer() {
        let mut page = store.query(&spec);
        if unordered {
            page.results.reverse();
        }
        returned(page.results.len());
        return Ok(Json(page).into_response());
    }
    let mut page = store.query_resources(kind, &spec);
    if unordered {
        page.results.reverse();
    }
    returned(page.results.len());
    Ok(Json(page).into_response())
}

/// `POST /{project}/{endpoint}`: 201 with the resource (customers:
/// `{"customer": ...}`).
async fn create(
    State(shared): AppState,
    Path((project, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = resource_type(&shared, &headers, &project, &endpoint, Access::Write, |c| {
        &c.creates
    })?;
    if kind.is_customer() {
        let draft: CustomerDraft =
            serde_json::from_slice(&body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
        let customer = shared
            .write(|store| {
                let (customer, event) = store.create(draft, true)?;
                Ok((customer, Some(event)))
            })
            .await?;
        return Ok((StatusCode::CREATED, Json(json!({ "customer": customer }))).into_response());
    }
    let draft: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
    let resource = shared
        .write(|store| {
            let (resource, event) = store.create_resource(kind, draft, true)?;
            Ok((resource, Some(event)))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(resource)).into_response())
}

/// Reads `{version, actions}` with every action named.
fn parse_update(body: &[u8]) -> Result<(u64, Vec<Value>), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
    let version = value
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::invalid_json("version: Missing required value"))?;
    let actions = value
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid_json("actions: Missing required value"))?;
    if actions
        .iter()
        .any(|a| a.get("action").and_then(Value::as_str).is_none())
    {
        return Err(ApiError::invalid_json(
            "actions -> action: Missing required value",
        ));
    }
    Ok((version, actions.clone()))
}

/// Customer actions, typed; an unknown action is 400 `InvalidInput`.
fn customer_actions(actions: Vec<Value>) -> Result<Vec<CustomerUpdateAction>, ApiError> {
    actions
        .into_iter()
        .map(|action| {
            let name = action
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if !CustomerUpdateAction::NAMES.contains(&name.as_str()) {
                return Err(ApiError::invalid_input(format!(
                    "Unknown update action '{name}' for customers."
                )));
            }
            serde_json::from_value(action)
                .map_err(|e| ApiError::invalid_json(format!("actions -> {name}: {e}")))
        })
        .collect()
}

/// `POST /{project}/{endpoint}/{id}` with `{version, actions}`.
async fn update(
    State(shared): AppState,
    Path((project, endpoint, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = resource_type(&shared, &headers, &project, &endpoint, Access::Write, |c| {
        &c.updates
    })?;
    let (version, actions) = parse_update(&body)?;
    let target = Target::parse(&id);
    if kind.is_customer() {
        let actions = customer_actions(actions)?;
        let customer = shared
            .write(|store| store.update(target, Some(version), actions))
            .await?;
        return Ok(Json(customer).into_response());
    }
    let resource = shared
        .write(|store| store.update_resource(kind, target, Some(version), &actions))
        .await?;
    Ok(Json(resource).into_response())
}

/// `DELETE /{project}/{endpoint}/{id}?version=N`.
async fn delete(
    State(shared): AppState,
    Path((project, endpoint, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let kind = resource_type(&shared, &headers, &project, &endpoint, Access::Write, |c| {
        &c.deletes
    })?;
    let version = form_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid_input("Missing or invalid query parameter: version"))?;
    let target = Target::parse(&id);
    if kind.is_customer() {
        let customer = shared
            .write(|store| {
                let (customer, event) = store.delete(target, Some(version))?;
                Ok((customer, Some(event)))
            })
            .await?;
        return Ok(Json(customer).into_response());
    }
    let resource = shared
        .write(|store| {
            let (resource, event) = store.delete_resource(kind, target, Some(version))?;
            Ok((resource, Some(event)))
        })
        .await?;
    Ok(Json(resource).into_response())
}
