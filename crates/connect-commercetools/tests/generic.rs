#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The generic client against a small in-test mock of the commercetools
//! API: typed reads of categories and orders, URL encoding, the JSON scan,
//! the read-plan-post loop of `update_with`, and raw calls.

use connect_commercetools::WithHttpSettings;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use connect_commercetools::{
    Category, CategoryUpdateAction, CommercetoolsClient, CommercetoolsConfig, LocalizedString,
    Order, OrderState, OrderUpdateAction, PaymentState, Scan, ShipmentState, Update,
};
use futures_util::StreamExt;
use serde_json::{Value, json};

const PROJECT: &str = "proj";
const CATEGORY: &str = include_str!("fixtures/category.json");
const ORDER: &str = include_str!("fixtures/order.json");

/// One request the mock received: method, raw (still percent-encoded)
/// path, raw query, body.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    body: Option<Value>,
}

#[derive(Default)]
struct Mock {
    seen: Vec<Seen>,
    category: Value,
    order: Value,
    /// 409s still to answer to category updates, each after a concurrent
    /// change (the stored version moves on).
    conflicts: u32,
    /// Results of `GET /proj/zones-list`, scanned by id.
    listed: Vec<Value>,
}

type Shared = Arc<Mutex<Mock>>;

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"statusCode": 404, "message": "The Resource was not found.",
               "errors": [{"code": "ResourceNotFound", "message": "The Resource was not found."}]}),
    )
}

fn conflict(current: u64) -> Response {
    json_response(
        StatusCode::CONFLICT,
        json!({"statusCode": 409, "message": "Object has a different version than expected.",
               "errors": [{"code": "ConcurrentModification",
                           "message": "Object has a different version than expected.",
                           "currentVersion": current}]}),
    )
}

async fn token() -> Response {
    json_response(
        StatusCode::OK,
        json!({"access_token": "t0ken", "expires_in": 3600, "token_type": "Bearer",
               "scope": "view_categories:proj"}),
    )
}

/// The `id > "..."` cursor of a scan page, if any.
fn cursor(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "where")
        .find_map(|(_, value)| {
            value
                .strip_prefix("id > \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .map(str::to_owned)
        })
}

fn limit(query: &str) -> usize {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "limit")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(20)
}

async fn api(State(mock): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let mut mock = mock.lock().unwrap();
    mock.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
    });
    let Some(rest) = path.strip_prefix(&format!("/{PROJECT}/")) else {
        return not_found();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let category_id = mock.category["id"].as_str().unwrap().to_owned();
    let order_id = mock.order["id"].as_str().unwrap().to_owned();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["categories", "key=womens-shoes"]) => {
            json_response(StatusCode::OK, mock.category.clone())
        }
        ("GET", ["categories", id]) if *id == category_id => {
            json_response(StatusCode::OK, mock.category.clone())
        }
        ("POST", ["categories", id]) if *id == category_id => {
            let current = mock.category["version"].as_u64().unwrap();
            if mock.conflicts > 0 {
                mock.conflicts -= 1;
                mock.category["version"] = json!(current + 1);
                return conflict(current + 1);
            }
            let body = body.unwrap_or_default();
            if body["version"].as_u64() != Some(current) {
                return conflict(current);
            }
            for action in body["actions"].as_array().cloned().unwrap_or_default() {
                if action["action"] == "changeName" {
                    mock.category["name"] = action["name"].clone();
                }
            }
            mock.category["version"] = json!(current + 1);
            json_response(StatusCode::OK, mock.category.clone())
        }
        ("GET", ["orders", "order-number=HD%20387%2F56"]) => {
            json_response(StatusCode::OK, mock.order.clone())
        }
        ("POST", ["orders", "order-number=HD%20387%2F56"]) => {
            let body = body.unwrap_or_default();
            for action in body["actions"].as_array().cloned().unwrap_or_default() {
                if action["action"] == "changeOrderState" {
                    mock.order["orderState"] = action["orderState"].clone();
                }
            }
            let version = mock.order["version"].as_u64().unwrap();
            mock.order["version"] = json!(version + 1);
            json_response(StatusCode::OK, mock.order.clone())
        }
        ("GET", ["orders", id]) if *id == order_id => {
            json_response(StatusCode::OK, mock.order.clone())
        }
        ("GET", ["zones-list"]) => {
            let after = cursor(&query);
            let results: Vec<Value> = mock
                .listed
                .iter()
                .filter(|v| match (&after, v["id"].as_str()) {
                    (Some(after), Some(id)) => id > after.as_str(),
                    _ => true,
                })
                .take(limit(&query))
                .cloned()
                .collect();
            json_response(
                StatusCode::OK,
                json!({"limit": limit(&query), "offset": 0, "count": results.len(), "results": results}),
            )
        }
        ("POST", ["zones"]) => {
            json_response(StatusCode::CREATED, json!({"id": "z-1", "version": 1}))
        }
        _ => not_found(),
    }
}

struct Server {
    mock: Shared,
    client: CommercetoolsClient,
}

impl Server {
    async fn start() -> Self {
        let mock = Shared::default();
        {
            let mut state = mock.lock().unwrap();
            state.category = serde_json::from_str(CATEGORY).unwrap();
            state.order = serde_json::from_str(ORDER).unwrap();
        }
        let app = Router::new()
            .route("/oauth/token", post(token))
            .fallback(api)
            .with_state(Arc::clone(&mock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = CommercetoolsConfig::new(PROJECT, "client", "secret", &url, &url)
            .with_retry_initial_backoff(Duration::from_millis(1));
        let client = CommercetoolsClient::new(config).unwrap();
        Self { mock, client }
    }

    fn seen(&self) -> Vec<Seen> {
        self.mock.lock().unwrap().seen.clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == Method::POST && s.path != "/oauth/token")
            .collect()
    }
}

fn category_id() -> String {
    serde_json::from_str::<Value>(CATEGORY).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn order_id() -> String {
    serde_json::from_str::<Value>(ORDER).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rename(name: &str) -> impl FnMut(&Category) -> Vec<CategoryUpdateAction> + Send + use<> {
    let name = name.to_owned();
    move |category: &Category| {
        if category.name.get("en") == Some(name.as_str()) {
            Vec::new()
        } else {
            vec![CategoryUpdateAction::ChangeName {
                name: LocalizedString::from_pairs([("en", name.as_str())]),
            }]
        }
    }
}

#[tokio::test]
async fn typed_reads_of_a_category_by_id_and_key() {
    let server = Server::start().await;
    let client = &server.client;

    let category: Category = client.get(&category_id()).await.unwrap();
    assert_eq!(category.version, 3);
    assert_eq!(category.key.as_deref(), Some("womens-shoes"));
    assert_eq!(category.external_id.as_deref(), Some("ERP-CAT-42"));
    assert_eq!(category.name.get("de"), Some("Damenschuhe"));
    assert_eq!(category.parent.as_ref().unwrap().type_id, "category");
    assert_eq!(category.ancestors.len(), 1);
    assert_eq!(category.order_hint.as_deref(), Some("0.000016143214473557"));
    assert!(category.assets.as_ref().unwrap().is_array());
    assert_eq!(
        category.custom.unwrap().fields["fluentCategoryRef"],
        "WOMENS_SHOES"
    );
    assert_eq!(
        category.extra["metaTitle"]["en"], "Women's shoes",
        "unknown fields kept"
    );

    let by_key: Category = client.get_by_key("womens-shoes").await.unwrap();
    assert_eq!(by_key.id, category_id());
    assert_eq!(
        client.find_by_key::<Category>("mens-shoes").await.unwrap(),
        None
    );
    assert_eq!(client.find::<Category>("no/such id").await.unwrap(), None);

    let missing = client.get::<Category>("gone").await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(!missing.is_retryable());
    assert!(
        missing
            .to_string()
            .contains("fetching category `gone` failed"),
        "{missing}"
    );

    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert!(
        paths.contains(&"/proj/categories/no%2Fsuch%20id".to_owned()),
        "{paths:?}"
    );
}

#[tokio::test]
async fn typed_reads_of_an_order_and_order_numbers_are_url_encoded() {
    let server = Server::start().await;
    let client = &server.client;

    let order: Order = client.get(&order_id()).await.unwrap();
    assert_eq!(order.order_state, OrderState::Confirmed);
    assert_eq!(order.shipment_state, Some(ShipmentState::Pending));
    assert_eq!(order.payment_state, Some(PaymentState::Paid));
    assert_eq!(order.state.as_ref().unwrap().type_id, "state");
    assert_eq!(order.total_price["centAmount"], 12900);
    assert_eq!(order.line_items[0]["variant"]["sku"], "SKU-1");

    let by_number = client.order_by_number("HD 387/56").await.unwrap();
    assert_eq!(by_number.id, order_id());
    assert_eq!(by_number.order_number.as_deref(), Some("HD 387/56"));
    assert_eq!(client.find_order_by_number("HD 999").await.unwrap(), None);
    let missing = client.order_by_number("HD 999").await.unwrap_err();
    assert!(missing.is_not_found());
    assert!(
        missing
            .to_string()
            .contains("fetching order with number `HD 999`"),
        "{missing}"
    );

    let updated = client
        .update_order_by_number(
            "HD 387/56",
            7,
            &[OrderUpdateAction::ChangeOrderState {
                order_state: OrderState::Complete,
            }],
        )
        .await
        .unwrap();
    assert_eq!(updated.order_state, OrderState::Complete);
    assert_eq!(updated.version, 8);

    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert!(
        paths.contains(&"/proj/orders/order-number=HD%20387%2F56"),
        "{paths:?}"
    );
    let post = server.posts().pop().unwrap();
    assert_eq!(
        post.body.unwrap(),
        json!({"version": 7, "actions": [{"action": "changeOrderState", "orderState": "Complete"}]})
    );
}

#[tokio::test]
async fn json_scan_pages_by_id_across_three_pages() {
    let server = Server::start().await;
    server.mock.lock().unwrap().listed = (1..=5)
        .map(|n| json!({"id": format!("z-{n}"), "version": n}))
        .collect();

    let values: Vec<Value> = server
        .client
        .scan_json("zones-list", Scan::all().page_size(2))
        .map(Result::unwrap)
        .collect()
        .await;
    let ids: Vec<&str> = values.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["z-1", "z-2", "z-3", "z-4", "z-5"]);

    let pages: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/proj/zones-list")
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(cursor(&pages[0].query), None);
    assert_eq!(cursor(&pages[1].query).as_deref(), Some("z-2"));
    assert_eq!(cursor(&pages[2].query).as_deref(), Some("z-4"));
    assert!(
        pages[0].query.contains("withTotal=false"),
        "{}",
        pages[0].query
    );

    // A result without a string id cannot be paged on.
    server.mock.lock().unwrap().listed = vec![json!({"id": 7})];
    let results: Vec<_> = server
        .client
        .scan_json("zones-list", Scan::all())
        .collect()
        .await;
    assert_eq!(results.len(), 1);
    let error = results[0].as_ref().unwrap_err();
    assert!(error.to_string().contains("no string `id`"), "{error}");
}

#[tokio::test]
async fn update_with_rereads_after_a_conflict_and_succeeds() {
    let server = Server::start().await;
    server.mock.lock().unwrap().conflicts = 1;

    let update = server
        .client
        .update_with(&category_id(), 3, rename("Shoes (women)"))
        .await
        .unwrap();
    let Update::Updated(category) = update else {
        panic!("expected an update, got {update:?}");
    };
    assert_eq!(category.name.get("en"), Some("Shoes (women)"));
    assert_eq!(
        category.version, 5,
        "3, then 4 by the concurrent change, then 5"
    );

    let posts = server.posts();
    let versions: Vec<u64> = posts
        .iter()
        .map(|p| p.body.as_ref().unwrap()["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 4], "the second post uses the re-read version");
    let reads = server
        .seen()
        .iter()
        .filter(|s| s.method == Method::GET && s.path.starts_with("/proj/categories/"))
        .count();
    assert_eq!(reads, 2);
}

#[tokio::test]
async fn update_with_gives_up_after_max_attempts_conflicts() {
    let server = Server::start().await;
    server.mock.lock().unwrap().conflicts = 10;

    let error = server
        .client
        .update_with(&category_id(), 3, rename("Shoes (women)"))
        .await
        .unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert!(error.is_retryable());
    assert_eq!(error.current_version(), Some(6));
    assert!(
        error
            .to_string()
            .contains(&format!("updating category `{}`", category_id())),
        "{error}"
    );
    assert_eq!(server.posts().len(), 3, "at most max_attempts posts");

    let missing = server
        .client
        .update_with("gone", 3, rename("x"))
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

#[tokio::test]
async fn update_with_and_nothing_to_do_posts_nothing() {
    let server = Server::start().await;

    let update = server
        .client
        .update_with(&category_id(), 3, rename("Women's shoes"))
        .await
        .unwrap();
    assert!(!update.is_updated());
    assert_eq!(update.into_inner().version, 3);
    assert!(server.posts().is_empty(), "{:?}", server.posts());
}

#[tokio::test]
async fn raw_calls_share_the_token_retries_and_request_counts() {
    let server = Server::start().await;
    let client = &server.client;

    let created = client
        .send_json(
            Method::POST,
            &["zones"],
            &[("expand", "x".to_owned())],
            Some(&json!({"name": "Europe"})),
            false,
        )
        .await
        .unwrap();
    assert_eq!(created["id"], "z-1");
    let missing = client
        .send_json(Method::GET, &["nothing", "here"], &[], None, true)
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    assert!(
        missing.to_string().contains("GET /nothing/here"),
        "{missing}"
    );
    let order = client.get_json("orders", &order_id()).await.unwrap();
    assert_eq!(order["orderNumber"], "HD 387/56");

    let counts = client.http_requests().snapshot();
    assert_eq!(
        counts.by_status.into_iter().collect::<BTreeMap<_, _>>(),
        BTreeMap::from([(200, 2), (201, 1), (404, 1)]),
        "the token, the raw POST, the raw 404, the JSON order"
    );
    let post = server.posts().pop().unwrap();
    assert_eq!(post.path, "/proj/zones");
    assert_eq!(post.query, "expand=x");
    assert_eq!(post.body, Some(json!({"name": "Europe"})));
}

#[test]
fn order_states_parse_their_commercetools_names_and_list_the_allowed_ones() {
    assert_eq!("Cancelled".parse::<OrderState>(), Ok(OrderState::Cancelled));
    assert_eq!(
        "Backorder".parse::<ShipmentState>(),
        Ok(ShipmentState::Backorder)
    );
    assert_eq!(
        "CreditOwed".parse::<PaymentState>(),
        Ok(PaymentState::CreditOwed)
    );

    let order = "open".parse::<OrderState>().unwrap_err().to_string();
    assert_eq!(
        order,
        "`open` is not a commercetools order state; use one of: Open, Confirmed, Complete, Cancelled"
    );
    let shipment = "Lost".parse::<ShipmentState>().unwrap_err().to_string();
    assert!(
        shipment.ends_with("Shipped, Ready, Pending, Delayed, Partial, Backorder, Delivered"),
        "{shipment}"
    );
    let payment = "Free".parse::<PaymentState>().unwrap_err().to_string();
    assert!(
        payment.ends_with("BalanceDue, Failed, Pending, CreditOwed, Paid"),
        "{payment}"
    );
    for state in ShipmentState::ALL {
        assert_eq!(
            serde_json::to_value(state).unwrap(),
            json!(state.to_string())
        );
    }
}

#[test]
fn localized_strings_fall_back_in_order() {
    let category: Category = serde_json::from_str(CATEGORY).unwrap();
    assert_eq!(category.name.get("fr"), None);
    assert_eq!(
        category.name.get_first(&["fr", "de", "en"]),
        Some("Damenschuhe")
    );
    assert_eq!(category.name.get_first(&["fr"]), None);
    assert_eq!(
        category.slug.get_or_any(&["fr"]),
        Some("damenschuhe"),
        "de < en"
    );
    assert_eq!(LocalizedString::default().get_or_any(&["en"]), None);
    assert_eq!(
        serde_json::to_value(&category.name).unwrap(),
        json!({"en": "Women's shoes", "de": "Damenschuhe"})
    );
}

/// Handlers run on a multi-threaded runtime: every generic call's future
/// must be `Send` (this fails to compile otherwise).
#[test]
fn generic_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let client = CommercetoolsClient::new(CommercetoolsConfig::new(
        PROJECT,
        "client",
        "secret",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    ))
    .unwrap();
    send(client.get::<Category>("c"));
    send(client.find_by_key::<Order>("k"));
    send(client.query::<Category>(&connect_commercetools::Query::new()));
    send(client.update::<Order, OrderUpdateAction>("o", 1, &[]));
    send(client.update_with("c", 3, rename("x")));
    send(client.update_order_with_by_number("n", 3, |_: &Order| Vec::new()));
    send(client.send_json(Method::GET, &["zones"], &[], None, true));
    send(client.scan_json("zones", Scan::all()));
}
