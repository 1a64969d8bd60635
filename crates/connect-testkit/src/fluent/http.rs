//! The emulator's HTTP surface: `/oauth/token` and `/graphql`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Variables;
use async_graphql::dynamic::Schema;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::schema::OperationName;
use super::state::Shared;
use super::{MAX_REQUEST_BYTES, RecordedRequest};
use crate::faults::{FaultLayer, Faults, apply};

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    schema: Schema,
}

/// The router, with fault injection in front of every route.
pub(crate) fn router(shared: Arc<Shared>, schema: Schema, faults: Arc<Faults>) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/graphql", post(graphql))
        .fallback(not_found)
        .with_state(App { shared, schema })
        .layer(axum::middleware::from_fn_with_state(
            FaultLayer {
                faults,
                render: render_fault,
            },
            apply,
        ))
}

/// The body of an injected failure, shaped like Fluent's gateway errors.
fn render_fault(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "Request entity too large: the limit is 2 MB".to_owned()
    } else {
        format!("{reason} (injected by the Fluent emulator)")
    };
    (
        status,
        axum::Json(json!({ "error": reason, "message": message })),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "error": "Not Found",
            "message": "the Fluent emulator serves POST /oauth/token and POST /graphql"
        })),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `POST /oauth/token`: parameters in a form body or the query string.
async fn token(
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let shared = &app.shared;
    shared.count_token_request();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut params = query;
    if is_form {
        match axum::Form::<HashMap<String, String>>::from_request(request, &()).await {
            Ok(axum::Form(form)) => params.extend(form),
            Err(rejection) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &rejection.body_text(),
                );
            }
        }
    }
    let settings = &shared.settings;
    if let Some(account) = headers.get("fluent.account").and_then(|v| v.to_str().ok())
        && account != settings.account
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Unknown account",
        );
    }
    let param = |name: &str| params.get(name).map(String::as_str);
    if param("client_id") != Some(settings.client_id.as_str())
        || param("client_secret") != Some(settings.client_secret.expose())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
    }
    let refresh = match param("grant_type") {
        Some("password") => {
            if param("username") != Some(settings.username.as_str())
                || param("password") != Some(settings.password.expose())
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad credentials");
            }
            if param("scope") != Some("api") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "scope must be `api`",
                );
            }
            false
        }
        Some("refresh_token") => {
            let valid = param("refresh_token").is_some_and(|t| shared.redeem_refresh_token(t));
            if !valid {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token",
                );
            }
            true
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be `password` or `refresh_token`",
            );
        }
    };
    let issued = shared.issue(refresh);
    let retailer_id = settings
        .retailer_id
        .parse::<u64>()
        .map_or_else(|_| json!(settings.retailer_id), |id| json!(id));
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": settings.token_lifetime.as_secs(),
        "scope": "api",
        "Retailer_id": retailer_id,
    });
    if let (Some(refresh_token), Some(object)) = (issued.refresh_token, body.as_object_mut()) {
        object.insert("refresh_token".into(), json!(refresh_token));
    }
    axum::Json(body).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphQlBody {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    operation_name: Option<String>,
}

fn graphql_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errors": [{ "message": message }] })),
    )
        .into_response()
}

/// `POST /graphql`: bearer token, 2 MB limit, then the schema.
async fn graphql(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({
                "error": "Payload Too Large",
                "message": "Request entity too large: the limit is 2 MB"
            })),
        )
            .into_response();
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let authorized = token.is_some_and(|t| app.shared.access_token_valid(t));
    let parsed = serde_json::from_slice::<GraphQlBody>(&bytes);
    let (query, variables, operation_name) = match &parsed {
        Ok(body) => (
            body.query.clone(),
            body.variables.clone().unwrap_or(Value::Null),
            body.operation_name
                .clone()
                .or_else(|| document_operation_name(&body.query)),
        ),
        Err(_) => (String::new(), Value::Null, None),
    };
    app.shared.record_request(RecordedRequest {
        operation_name: operation_name.clone(),
        query: query.clone(),
        variables: variables.clone(),
        authorized,
    });
    if !authorized {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Access token expired or invalid",
        );
        if let Ok(value) = "Bearer error=\"invalid_token\"".parse() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return response;
    }
    if let Err(error) = parsed {
        return graphql_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "the body must be JSON {{\"query\", \"variables\", \"operationName\"}}: {error}"
            ),
        );
    }
    let mut request = async_graphql::Request::new(query)
        .variables(Variables::from_json(variables))
        .data(OperationName(operation_name.clone()));
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    let response = app.schema.execute(request).await;
    match serde_json::to_value(&response) {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => graphql_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("S0500E: cannot encode the response: {error}"),
        ),
    }
}

/// The name of the only operation of `query`, if it has exactly one.
fn document_operation_name(query: &str) -> Option<String> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let mut names = document.operations.iter().map(|(name, _)| name);
    match (names.next(), names.next()) {
        (Some(Some(name)), None) => Some(name.to_string()),
        _ => None,
    }
}
