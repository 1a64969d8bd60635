#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The commercetools emulator serves every resource type generically
//! (categories, orders, a partner's type) over real loopback HTTP, with the
//! rules, scopes, notifications and faults customers have.

use std::sync::Arc;
use std::time::Duration;

use connect_core::queue::{MemoryQueue, RawPayload, Source};
use connect_testkit::Fault;
use connect_testkit::commercetools::{CommercetoolsEmulator, NotificationFormat};
use serde_json::{Value, json};

/// A token for `scope` (space-separated names without the project).
async fn token(emulator: &CommercetoolsEmulator, http: &reqwest::Client, scopes: &str) -> String {
    let pk = emulator.project_key();
    let scope = scopes
        .split_whitespace()
        .map(|s| format!("{s}:{pk}"))
        .collect::<Vec<_>>()
        .join(" ");
    let response = http
        .post(format!("{}/oauth/token", emulator.auth_url()))
        .basic_auth(emulator.client_id(), Some(emulator.client_secret()))
        .query(&[("grant_type", "client_credentials"), ("scope", &scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "token for {scope}");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Talks to one emulator with one token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(emulator: &CommercetoolsEmulator, scopes: &str) -> Self {
        let http = reqwest::Client::new();
        let token = token(emulator, &http, scopes).await;
        Self {
            base: format!("{}/{}", emulator.api_url(), emulator.project_key()),
            http,
            token,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}/{path}", self.base)))
            .await
    }

    async fn query(&self, endpoint: &str, params: &[(&str, &str)]) -> (u16, Value) {
        self.send(
            self.http
                .get(format!("{}/{endpoint}", self.base))
                .query(params),
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}/{path}", self.base)).json(&body))
            .await
    }

    async fn update(&self, path: &str, version: u64, actions: Value) -> (u16, Value) {
        self.post(path, json!({ "version": version, "actions": actions }))
            .await
    }

    async fn delete(&self, path: &str, version: u64) -> (u16, Value) {
        self.send(
            self.http
                .delete(format!("{}/{path}", self.base))
                .query(&[("version", version)]),
        )
        .await
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

fn category(key: &str, parent_key: Option<&str>) -> Value {
    let mut draft = json!({
        "key": key,
        "name": { "en": format!("Category {key}") },
        "slug": { "en": format!("slug-{key}") },
    });
    if let Some(parent) = parent_key {
        draft["parent"] = json!({ "typeId": "category", "key": parent });
    }
    draft
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Receives exactly the payloads already delivered to `queue` (the
/// emulator delivers before it answers, so nothing is still on its way).
async fn drain(queue: &MemoryQueue<RawPayload>) -> Vec<Value> {
    let mut payloads = Vec::new();
    loop {
        let batch = queue.receive(100, Duration::from_millis(20)).await.unwrap();
        if batch.is_empty() {
            return payloads;
        }
        for delivery in batch {
            payloads.push(serde_json::from_str(&delivery.item().body).unwrap());
            delivery.ack().await.unwrap();
        }
    }
}

#[tokio::test]
async fn categories_get_by_id_and_key_with_ancestors_and_conflicts() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let api = Api::new(&emulator, "manage_categories").await;

    let (status, root) = api.post("categories", category("root", None)).await;
    assert_eq!(status, 201, "{root}");
    assert_eq!(root["version"], 1);
    assert_eq!(root["ancestors"], json!([]));
    assert!(root["createdAt"].is_string() && root["lastModifiedAt"].is_string());
    let root_id = root["id"].as_str().unwrap().to_owned();

    let (status, child) = api
        .post("categories", category("child", Some("root")))
        .await;
    assert_eq!(status, 201, "{child}");
    assert_eq!(
        child["parent"],
        json!({"typeId": "category", "id": root_id})
    );
    let child_id = child["id"].as_str().unwrap().to_owned();
    let (_, leaf) = api
        .post("categories", category("leaf", Some("child")))
        .await;
    assert_eq!(
        leaf["ancestors"],
        json!([{"typeId": "category", "id": root_id}, {"typeId": "category", "id": child_id}]),
        "root first"
    );

    let (status, by_id) = api.get(&format!("categories/{child_id}")).await;
    assert_eq!((status, &by_id), (200, &child));
    let (status, by_key) = api.get("categories/key=child").await;
    assert_eq!((status, &by_key), (200, &child));
    let (status, missing) = api.get("categories/key=nope").await;
    assert_eq!((status, code(&missing)), (404, "ResourceNotFound"));

    // Rules: a missing parent, a taken key or slug, a bad key.
    let (status, body) = api
        .post("categories", category("orphan", Some("ghost")))
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "ReferencedResourceNotFound"),
        "{body}"
    );
    let (status, body) = api.post("categories", category("root", None)).await;
    assert_eq!((status, code(&body)), (400, "DuplicateField"), "{body}");
    let mut same_slug = category("other", None);
    same_slug["slug"] = json!({"en": "slug-root"});
    let (status, body) = api.post("categories", same_slug).await;
    assert_eq!((status, code(&body)), (400, "DuplicateField"), "{body}");
    let (status, body) = api.post("categories", category("no spaces", None)).await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"), "{body}");

    // Update with a stale version: 409 with the current version.
    let actions = json!([{"action": "changeName", "name": {"en": "Renamed"}},
                         {"action": "setDescription", "description": {"en": "d"}},
                         {"action": "changeOrderHint", "orderHint": "0.5"}]);
    let (status, updated) = api
        .update(&format!("categories/{child_id}"), 1, actions.clone())
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"]["en"], "Renamed");
    assert_eq!(updated["orderHint"], "0.5");
    assert!(updated["lastModifiedAt"].as_str() > child["lastModifiedAt"].as_str());
    let (status, conflict) = api
        .update(&format!("categories/{child_id}"), 1, actions)
        .await;
    assert_eq!((status, code(&conflict)), (409, "ConcurrentModification"));
    assert_eq!(conflict["errors"][0]["currentVersion"], 2);

    // Moving the child to the top level moves its subtree's ancestors.
    let (_, other_root) = api.post("categories", category("root2", None)).await;
    let other_id = other_root["id"].as_str().unwrap();
    let (status, moved) = api
        .update(
            &format!("categories/{child_id}"),
            2,
            json!([{"action": "changeParent", "parent": {"typeId": "category", "id": other_id}}]),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["ancestors"],
        json!([{"typeId": "category", "id": other_id}])
    );
    let (_, leaf_now) = api.get("categories/key=leaf").await;
    assert_eq!(
        leaf_now["ancestors"],
        json!([{"typeId": "category", "id": other_id}, {"typeId": "category", "id": child_id}])
    );
    let (status, body) = api
        .update(
            &format!("categories/{child_id}"),
            3,
            json!([{"action": "changeParent", "parent": {"key": "leaf"}}]),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidOperation"),
        "a cycle: {body}"
    );

    // Unknown actions are refused by name; nothing changed.
    let (status, body) = api
        .update(
            &format!("categories/{child_id}"),
            3,
            json!([{"action": "setMetaTitle"}]),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    assert!(message(&body).contains("setMetaTitle"), "{body}");
    assert_eq!(
        emulator.resource("category", &child_id).unwrap()["version"],
        3
    );

    // A category with children cannot go; a leaf can, at its version.
    let (status, body) = api.delete(&format!("categories/{child_id}"), 3).await;
    assert_eq!((status, code(&body)), (400, "ReferenceExists"), "{body}");
    let leaf_id = leaf["id"].as_str().unwrap();
    let (status, _) = api.delete(&format!("categories/{leaf_id}"), 9).await;
    assert_eq!(status, 409);
    let (status, deleted) = api.delete(&format!("categories/{leaf_id}"), 1).await;
    assert_eq!((status, deleted["key"].as_str()), (200, Some("leaf")));
    assert!(emulator.resource("categories", leaf_id).is_none());
    assert_eq!(emulator.resources("category").len(), 3);

    let stats = emulator.resource_stats("categories");
    assert_eq!((stats.gets, stats.key_gets, stats.deletes), (1, 3, 3));
    assert_eq!(
        emulator.stats().api_requests(),
        0,
        "customer counters untouched"
    );
}

#[tokio::test]
async fn category_queries_page_by_id_and_by_last_modified_at() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    for i in 0..7 {
        emulator
            .insert_resource_silently("category", category(&format!("c{i}"), None))
            .unwrap();
    }
    let api = Api::new(&emulator, "view_categories").await;
    let mut all: Vec<String> = emulator
        .resources("categories")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    all.sort();

    // Cursor paging by id.
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let predicate = last.as_ref().map(|id| format!("id > \"{id}\""));
        let mut params = vec![("sort", "id asc"), ("limit", "3"), ("withTotal", "false")];
        if let Some(predicate) = &predicate {
            params.push(("where", predicate));
        }
        let (status, page) = api.query("categories", &params).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.get("total").is_none() || page["total"].is_null());
        let page_ids = ids(&page);
        if page_ids.is_empty() {
            break;
        }
        last = page_ids.last().cloned();
        seen.extend(page_ids);
    }
    assert_eq!(seen, all);

    // Changes since a time, oldest first, with offsets and a total.
    let third = emulator
        .resources("category")
        .into_iter()
        .find(|c| c["key"] == "c2")
        .unwrap();
    let since = third["lastModifiedAt"].as_str().unwrap().to_owned();
    let predicate = format!("lastModifiedAt > \"{since}\"");
    let (status, page) = api
        .query(
            "categories",
            &[
                ("where", &predicate),
                ("sort", "lastModifiedAt asc"),
                ("limit", "2"),
                ("offset", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4);
    assert_eq!(page["count"], 2);
    let keys: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["c4", "c5"]);

    let (status, page) = api
        .query(
            "categories",
            &[("where", "key in (\"c1\", \"c6\") and version = 1")],
        )
        .await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(2)));

    // Syntax the emulator cannot evaluate is refused, never ignored.
    for bad in [
        "name(en = \"x\")",
        "(key = \"a\" or key = \"b\"",
        "lastModifiedAt > \"yesterday\"",
    ] {
        let (status, body) = api.query("categories", &[("where", bad)]).await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidInput"),
            "{bad}: {body}"
        );
    }
    let (status, body) = api.query("categories", &[("limit", "501")]).await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    assert_eq!(
        emulator.resource_stats("categories").queries,
        4 + 1 + 1 + 3 + 1
    );
}

#[tokio::test]
async fn unordered_pages_hold_the_selected_page_reversed() {
    let emulator = CommercetoolsEmulator::builder()
        .unordered_pages(true)
        .start()
        .await
        .unwrap();
    for i in 0..7 {
        emulator
            .insert_resource_silently("category", category(&format!("c{i}"), None))
            .unwrap();
    }
    let api = Api::new(&emulator, "view_categories").await;
    let mut all: Vec<String> = emulator
        .resources("categories")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    all.sort();
    let after = format!("id > \"{}\"", all[1]);
    let params = [
        ("sort", "id asc"),
        ("limit", "3"),
        ("where", after.as_str()),
    ];

    // `where` and `limit` are honoured; the page is descending.
    let (status, page) = api.query("categories", &params).await;
    assert_eq!(status, 200, "{page}");
    let expected: Vec<String> = all[2..5].iter().rev().cloned().collect();
    assert_eq!(ids(&page), expected);

    // Turned off at runtime, the same query ascends again.
    emulator.set_unordered_pages(false);
    let (_, page) = api.query("categories", &params).await;
    assert_eq!(ids(&page), all[2..5].to_vec());
}

#[tokio::test]
async fn category_writes_notify_in_every_format() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let formats = [
        NotificationFormat::ChangeNotifications,
        NotificationFormat::CloudEvents,
        NotificationFormat::EventBridge,
        NotificationFormat::Messages,
    ];
    let queues: Vec<MemoryQueue<RawPayload>> = formats
        .iter()
        .map(|format| {
            let queue = MemoryQueue::new(format!("{format:?}"), 100);
            emulator.subscribe(Arc::new(queue.clone()), *format);
            queue
        })
        .collect();
    let api = Api::new(&emulator, "manage_categories").await;
    let (_, created) = api.post("categories", category("shoes", None)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    api.update(
        &format!("categories/{id}"),
        1,
        json!([{"action": "changeName", "name": {"en": "Shoes"}}]),
    )
    .await;
    api.update(
        &format!("categories/{id}"),
        2,
        json!([{"action": "changeSlug", "slug": {"en": "shoes-2"}}]),
    )
    .await;
    let (status, _) = api.delete(&format!("categories/{id}"), 3).await;
    assert_eq!(status, 200);

    let platform = drain(&queues[0]).await;
    let kinds: Vec<&str> = platform
        .iter()
        .map(|p| p["notificationType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ResourceCreated",
            "ResourceUpdated",
            "ResourceUpdated",
            "ResourceDeleted"
        ]
    );
    for (payload, version) in platform.iter().zip([1, 2, 3, 3]) {
        assert_eq!(payload["resource"], json!({"typeId": "category", "id": id}));
        assert_eq!(payload["version"], version);
        assert_eq!(payload["resourceUserProvidedIdentifiers"]["key"], "shoes");
    }
    assert_eq!(platform[1]["oldVersion"], 1);
    assert_eq!(platform[2]["oldVersion"], 2);
    assert_eq!(
        platform[2]["resourceUserProvidedIdentifiers"]["slug"],
        json!({"en": "shoes-2"})
    );

    let cloud = drain(&queues[1]).await;
    assert_eq!(cloud.len(), 4);
    assert_eq!(
        cloud[0]["type"],
        "com.commercetools.category.change.ResourceCreated"
    );
    assert_eq!(
        cloud[3]["type"],
        "com.commercetools.category.change.ResourceDeleted"
    );
    assert_eq!(
        cloud[1]["source"],
        format!("/{}/categories", emulator.project_key())
    );
    assert_eq!(cloud[1]["subject"], id.as_str());
    assert_eq!(cloud[1]["data"], platform[1]);

    let bridge = drain(&queues[2]).await;
    assert_eq!(bridge.len(), 4);
    assert_eq!(bridge[2]["detail-type"], "ResourceUpdated");
    assert_eq!(bridge[2]["detail"]["resource"]["typeId"], "category");

    // Messages only for the changes that have a Message type.
    let messages = drain(&queues[3]).await;
    let types: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["CategoryCreated", "CategorySlugChanged"]);
    assert_eq!(messages[0]["category"]["key"], "shoes");
    assert_eq!(messages[1]["slug"], json!({"en": "shoes-2"}));
    assert_eq!(messages[1]["oldSlug"], json!({"en": "slug-shoes"}));
    assert_eq!(messages[1]["resourceVersion"], 3);
    assert_eq!(messages[1]["sequenceNumber"], 2);
}

#[tokio::test]
async fn seeding_without_http_notifies_like_writes() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let queue = MemoryQueue::new("changes", 100);
    emulator.subscribe(
        Arc::new(queue.clone()),
        NotificationFormat::ChangeNotifications,
    );

    let silent = emulator
        .insert_resource_silently("categories", category("quiet", None))
        .unwrap();
    let seeded = emulator
        .insert_resource("category", json!({"id": "fixed-id", "key": "seeded", "name": {"en": "S"}, "slug": {"en": "seeded"}, "parent": {"key": "quiet"}}))
        .await
        .unwrap();
    assert_eq!(seeded["id"], "fixed-id", "given ids are kept when seeding");
    assert_eq!(seeded["ancestors"][0]["id"], silent["id"]);
    let changed = emulator
        .modify_resource("category", "fixed-id", |c| c["externalId"] = json!("ext-1"))
        .await
        .unwrap();
    assert_eq!(changed["version"], 2);
    assert!(changed["lastModifiedAt"].as_str() > seeded["lastModifiedAt"].as_str());
    let refused = emulator
        .modify_resource("category", "fixed-id", |c| c["key"] = json!("quiet"))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (400, "DuplicateField")
    );
    emulator
        .delete_resource("category", "fixed-id")
        .await
        .unwrap();
    let unknown = emulator
        .insert_resource("widgets", json!({}))
        .await
        .unwrap_err();
    assert_eq!(unknown.status, 404);
    assert!(unknown.message.contains("resource_type"), "{unknown}");

    let payloads = drain(&queue).await;
    let summary: Vec<(String, u64)> = payloads
        .iter()
        .map(|p| {
            (
                p["notificationType"].as_str().unwrap().to_owned(),
                p["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ResourceCreated".to_owned(), 1),
            ("ResourceUpdated".to_owned(), 2),
            ("ResourceDeleted".to_owned(), 2)
        ]
    );
    assert_eq!(
        payloads[1]["resourceUserProvidedIdentifiers"]["externalId"],
        "ext-1"
    );

    // Customers are reachable the same way.
    let customer = emulator
        .insert_resource(
            "customer",
            json!({"email": "ada@example.com", "key": "ada"}),
        )
        .await
        .unwrap();
    let id = customer["id"].as_str().unwrap();
    let renamed = emulator
        .modify_resource("customers", id, |c| c["firstName"] = json!("Ada"))
        .await
        .unwrap();
    assert_eq!(
        (renamed["version"].as_u64(), renamed["firstName"].as_str()),
        (Some(2), Some("Ada"))
    );
    assert_eq!(
        emulator.customer(id).unwrap().first_name.as_deref(),
        Some("Ada")
    );
    assert_eq!(emulator.resources("customer").len(), 1);
}

#[tokio::test]
async fn orders_change_states_by_id_and_order_number() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let order = emulator
        .insert_resource("order", json!({"orderNumber": "A/100 x", "totalPrice": {"centAmount": 100, "currencyCode": "EUR"}}))
        .await
        .unwrap();
    assert_eq!(order["orderState"], "Open", "orders start Open");
    let id = order["id"].as_str().unwrap().to_owned();
    let api = Api::new(&emulator, "manage_orders").await;

    let by_number = "orders/order-number=A%2F100%20x";
    let (status, fetched) = api.get(by_number).await;
    assert_eq!((status, &fetched), (200, &order));

    let (status, updated) = api
        .update(
            by_number,
            1,
            json!([
                {"action": "changeOrderState", "orderState": "Confirmed"},
                {"action": "changeShipmentState", "shipmentState": "Shipped"},
                {"action": "changePaymentState", "paymentState": "Paid"},
                {"action": "transitionState", "state": {"typeId": "state", "key": "picked"}, "force": true},
                {"action": "setCustomType", "type": {"key": "order-fields"}},
                {"action": "setCustomField", "name": "fluentOrderId", "value": "F-1"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["orderState"], "Confirmed");
    assert_eq!(updated["shipmentState"], "Shipped");
    assert_eq!(updated["paymentState"], "Paid");
    assert_eq!(updated["state"], json!({"typeId": "state", "id": "picked"}));
    assert_eq!(updated["custom"]["fields"]["fluentOrderId"], "F-1");

    // A bad enum value or an unknown action is refused by name, all or nothing.
    for (action, named) in [
        (
            json!({"action": "changeOrderState", "orderState": "Shipped"}),
            "Shipped",
        ),
        (
            json!({"action": "changeShipmentState", "shipmentState": "Lost"}),
            "Lost",
        ),
        (
            json!({"action": "changePaymentState", "paymentState": "Free"}),
            "Free",
        ),
        (
            json!({"action": "changeName", "name": {"en": "x"}}),
            "changeName",
        ),
    ] {
        let actions = json!([{"action": "changeOrderState", "orderState": "Complete"}, action]);
        let (status, body) = api.update(&format!("orders/{id}"), 2, actions).await;
        assert_eq!((status, code(&body)), (400, "InvalidInput"), "{body}");
        assert!(message(&body).contains(named), "{body}");
    }
    let (_, current) = api.get(&format!("orders/{id}")).await;
    assert_eq!(
        (current["version"].as_u64(), current["orderState"].as_str()),
        (Some(2), Some("Confirmed"))
    );

    let (status, body) = api.post("orders", json!({"orderNumber": "A/100 x"})).await;
    assert_eq!((status, code(&body)), (400, "DuplicateField"));
    let (status, body) = api
        .post("orders", json!({"orderNumber": "B", "orderState": "Done"}))
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"), "{body}");
    let (status, page) = api
        .query(
            "orders",
            &[(
                "where",
                "orderNumber = \"A/100 x\" and orderState = \"Confirmed\"",
            )],
        )
        .await;
    assert_eq!((status, ids(&page)), (200, vec![id]));
}

#[tokio::test]
async fn a_partner_resource_type_is_served_generically() {
    let emulator = CommercetoolsEmulator::builder()
        .resource_type("channels", "channel")
        .start()
        .await
        .unwrap();
    let queue = MemoryQueue::new("changes", 10);
    emulator.subscribe(Arc::new(queue.clone()), NotificationFormat::CloudEvents);
    let api = Api::new(&emulator, "manage_channels view_channels").await;

    let (status, created) = api
        .post(
            "channels",
            json!({"key": "warehouse-1", "roles": ["InventorySupply"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, updated) = api
        .update(
            "channels/key=warehouse-1",
            1,
            json!([{"action": "setKey", "key": "warehouse-2"}]),
        )
        .await;
    assert_eq!(
        (status, updated["key"].as_str()),
        (200, Some("warehouse-2"))
    );
    let (status, body) = api
        .update(
            &format!("channels/{id}"),
            2,
            json!([{"action": "changeName"}]),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "InvalidInput"));
    assert!(
        message(&body).contains("changeName") && message(&body).contains("channels"),
        "{body}"
    );
    let (status, page) = api
        .query("channels", &[("where", "key = \"warehouse-2\"")])
        .await;
    assert_eq!((status, ids(&page)), (200, vec![id.clone()]));
    let (status, gone) = api.get("channels/key=warehouse-1").await;
    assert_eq!(status, 404, "the old key no longer finds it: {gone}");

    let events = drain(&queue).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "com.commercetools.channel.change.ResourceCreated",
            "com.commercetools.channel.change.ResourceUpdated"
        ]
    );
    assert_eq!(
        events[1]["data"]["resource"],
        json!({"typeId": "channel", "id": id})
    );

    // A type nobody added is not there.
    let (status, body) = api.get("widgets/x").await;
    assert_eq!((status, code(&body)), (404, "ResourceNotFound"));
    assert!(
        emulator
            .resource_types()
            .contains(&("channels".to_owned(), "channel".to_owned()))
    );
}

#[tokio::test]
async fn scopes_are_per_resource_type() {
    let emulator = CommercetoolsEmulator::builder()
        .scopes(["view_categories", "manage_orders", "view_customers"])
        .start()
        .await
        .unwrap();
    let read_only = Api::new(&emulator, "view_categories").await;
    let (status, _) = read_only.query("categories", &[]).await;
    assert_eq!(status, 200);
    let (status, body) = read_only.post("categories", category("x", None)).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert!(message(&body).contains("manage_categories"), "{body}");
    let (status, body) = read_only.query("orders", &[]).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert!(
        message(&body).contains("view_orders, manage_orders"),
        "{body}"
    );
    let orders = Api::new(&emulator, "manage_orders").await;
    let (status, _) = orders.query("orders", &[]).await;
    assert_eq!(status, 200, "manage implies view");
    assert_eq!(emulator.stats().forbidden, 2);

    // By default the client may have view and manage of every type.
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let scopes = &emulator.config().scopes;
    for endpoint in ["customers", "categories", "orders", "products"] {
        assert!(
            scopes.contains(&format!("manage_{endpoint}:{}", emulator.project_key())),
            "{scopes:?}"
        );
    }
    let api = Api::new(&emulator, "view_products manage_categories").await;
    let (status, _) = api.query("products", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn faults_apply_to_every_resource_path() {
    let emulator = CommercetoolsEmulator::start().await.unwrap();
    let api = Api::new(&emulator, "manage_categories manage_customers").await;
    let prefix = format!("/{}/categories", emulator.project_key());
    emulator
        .faults()
        .inject_for(&prefix, Fault::unavailable(), 1);
    let (status, _) = api.query("customers", &[]).await;
    assert_eq!(status, 200, "another path is untouched");
    let (status, body) = api.query("categories", &[]).await;
    assert_eq!((status, code(&body)), (503, "OverCapacity"));
    let (status, _) = api.query("categories", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(emulator.faults().pending(), 0);
}
