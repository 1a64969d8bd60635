//! The emulator's HTTP endpoints.

use std::sync::Arc;

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
use super::errors::ApiError;
use super::predicate::{Predicate, Sort};
use super::state::{Access, Counters, Shared};
use super::store::{QuerySpec, Target};

type AppState = State<Arc<Shared>>;

/// The routes (auth and API on one host).
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/{project}/customers", get(query).post(create))
        .route(
            "/{project}/customers/{id}",
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

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The requested endpoint does not exist in the commercetools emulator.",
    )
    .into_response()
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

/// `GET /{project}/customers/{id}` and `/customers/key={key}`.
async fn read(
    State(shared): AppState,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let target = Target::parse(&id);
    Counters::bump(match target {
        Target::Id(_) => &shared.counters.customer_gets,
        Target::Key(_) => &shared.counters.customer_key_gets,
    });
    shared.authorize(authorization(&headers), &project, Access::Read)?;
    let customer = shared.store().get(target)?.clone();
    Ok(Json(customer).into_response())
}

/// `GET /{project}/customers?where=...&sort=...&limit=...&offset=...&withTotal=...`.
async fn query(
    State(shared): AppState,
    Path(project): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Counters::bump(&shared.counters.customer_queries);
    shared.authorize(authorization(&headers), &project, Access::Read)?;
    let mut spec = QuerySpec {
        limit: 20,
        with_total: true,
        ..QuerySpec::default()
    };
    for (name, value) in form_pairs(raw.as_deref().unwrap_or("")) {
        match name.as_str() {
            "where" => spec.predicates.push(Predicate::parse(&value).map_err(|e| {
                ApiError::invalid_input(format!("Malformed parameter: where: {e} (in `{value}`)"))
            })?),
            "sort" => {
                spec.sort.push(Sort::parse(&value).map_err(|e| {
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
    let page = shared.store().query(&spec);
    Ok(Json(page).into_response())
}

/// `POST /{project}/customers`: 201 `{"customer": ...}`.
async fn create(
    State(shared): AppState,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    Counters::bump(&shared.counters.customer_creates);
    shared.authorize(authorization(&headers), &project, Access::Write)?;
    let draft: CustomerDraft =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid_json(e.to_string()))?;
    let customer = shared
        .write(|store| {
            let (customer, event) = store.create(draft, true)?;
            Ok((customer, Some(event)))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "customer": customer }))).into_response())
}

/// Reads `{version, actions}`; an unknown action is 400 `InvalidInput`.
fn parse_update(body: &[u8]) -> Result<(u64, Vec<CustomerUpdateAction>), ApiError> {
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
    let mut parsed = Vec::with_capacity(actions.len());
    for action in actions {
        let name = action
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_json("actions -> action: Missing required value"))?;
        if !CustomerUpdateAction::NAMES.contains(&name) {
            return Err(ApiError::invalid_input(format!(
                "Unknown update action '{name}' for customers."
            )));
        }
        let action = serde_json::from_value(action.clone())
            .map_err(|e| ApiError::invalid_json(format!("actions -> {name}: {e}")))?;
        parsed.push(action);
    }
    Ok((version, parsed))
}

/// `POST /{project}/customers/{id}` with `{version, actions}`.
async fn update(
    State(shared): AppState,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    Counters::bump(&shared.counters.customer_updates);
    shared.authorize(authorization(&headers), &project, Access::Write)?;
    let (version, actions) = parse_update(&body)?;
    let customer = shared
        .write(|store| store.update(Target::parse(&id), Some(version), actions))
        .await?;
    Ok(Json(customer).into_response())
}

/// `DELETE /{project}/customers/{id}?version=N`.
async fn delete(
    State(shared): AppState,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Counters::bump(&shared.counters.customer_deletes);
    shared.authorize(authorization(&headers), &project, Access::Write)?;
    let version = form_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid_input("Missing or invalid query parameter: version"))?;
    let customer = shared
        .write(|store| {
            let (customer, event) = store.delete(Target::parse(&id), Some(version))?;
            Ok((customer, Some(event)))
        })
        .await?;
    Ok(Json(customer).into_response())
}
