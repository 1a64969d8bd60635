//! The hand-written customer sync benchmarks compare the SDK against: one
//! reqwest client, both tokens obtained once, then per customer the three
//! calls customer sync makes (commercetools GET by id, Fluent lookup by
//! ref, Fluent create), with none of the SDK's machinery.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use connect_commercetools::{Address, CustomerDraft};
use connect_fluent::{CREATE_CUSTOMER, CUSTOMER_BY_REF};
use serde_json::{Value, json};

use crate::commercetools::{CommercetoolsEmulator, EmulatorError};
use crate::fluent::FluentEmulator;

/// What a baseline call can fail with: a transport or HTTP status error,
/// or an answer that is not what customer sync expects.
pub type BaselineError = Box<dyn std::error::Error + Send + Sync>;

/// Inserts `n` customers (numbered from `first`) into the commercetools
/// emulator without notifications, all with a name, title, customer number
/// and a default shipping address, and returns their ids.
pub fn seed_customers(
    ct: &CommercetoolsEmulator,
    first: u64,
    n: usize,
) -> Result<Vec<String>, EmulatorError> {
    (first..)
        .take(n)
        .map(|i| {
            let mut draft = CustomerDraft::new(format!("customer{i}@example.com"))
                .with_key(format!("cust-{i}"))
                .with_name("Ada", format!("Lovelace {i}"));
            draft.title = Some("Dr".to_owned());
            draft.customer_number = Some(format!("{i}"));
            let mut address = Address::new("GB");
            address.phone = Some("+44 20 7946 0000".to_owned());
            address.city = Some("London".to_owned());
            draft.addresses = vec![address];
            draft.default_shipping_address = Some(0);
            ct.insert_customer_silently(draft).map(|c| c.id)
        })
        .collect()
}

/// Customer sync written by hand against the emulators.
#[derive(Debug)]
pub struct RawCustomerSync {
    http: reqwest::Client,
    customer_url: String,
    ct_bearer: String,
    graphql_url: String,
    fluent_bearer: String,
    retailer_id: String,
}

impl RawCustomerSync {
    /// Obtains both tokens, as the clients would on their first call.
    pub async fn login(
        ct: &CommercetoolsEmulator,
        fluent: &FluentEmulator,
    ) -> Result<Self, BaselineError> {
        let http = reqwest::Client::new();
        let pk = ct.project_key();
        let scope = format!("manage_customers:{pk}");
        let ct_token: Value = http
            .post(format!("{}/oauth/token", ct.auth_url()))
            .basic_auth(ct.client_id(), Some(ct.client_secret()))
            .query(&[
                ("grant_type", "client_credentials"),
                ("scope", scope.as_str()),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let config = fluent.config();
        let fluent_token: Value = http
            .post(format!("{}/oauth/token", fluent.base_url()))
            .header("fluent.account", &config.account)
            .form(&[
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.client_secret.expose()),
                ("grant_type", "password"),
                ("username", config.username.as_str()),
                ("password", config.password.expose()),
                ("scope", "api"),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = |answer: &Value| {
            answer["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("no access_token in {answer}"))
        };
        Ok(Self {
            http,
            customer_url: format!("{}/{pk}/customers/", ct.api_url()),
            ct_bearer: token(&ct_token)?,
            graphql_url: format!("{}/graphql", fluent.base_url()),
            fluent_bearer: token(&fluent_token)?,
            retailer_id: config.retailer_id,
        })
    }

    /// Syncs every customer of `ids` with `concurrency` tasks, each taking
    /// the next id.
    pub async fn sync_all(
        self: &Arc<Self>,
        ids: Arc<[String]>,
        concurrency: usize,
    ) -> Result<(), BaselineError> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let raw = Arc::clone(self);
            let ids = Arc::clone(&ids);
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else {
                        return Ok::<(), BaselineError>(());
                    };
                    raw.sync_one(id).await?;
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined??;
        }
        Ok(())
    }

    /// commercetools GET by id → Fluent lookup by ref → Fluent create.
    pub async fn sync_one(&self, id: &str) -> Result<(), BaselineError> {
        let customer: Value = self
            .http
            .get(format!("{}{id}", self.customer_url))
            .bearer_auth(&self.ct_bearer)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let found = self
            .graphql(
                "CustomerByRef",
                CUSTOMER_BY_REF,
                json!({ "ref": customer["id"] }),
            )
            .await?;
        if !found["customer"].is_null() {
            return Err(format!("customer {id} is already in Fluent").into());
        }
        let created = self
            .graphql(
                "CreateCustomer",
                CREATE_CUSTOMER,
                json!({ "input": self.create_input(&customer) }),
            )
            .await?;
        if !created["createCustomer"]["id"].is_string() {
            return Err(format!("customer {id} was not created: {created}").into());
        }
        Ok(())
    }

    /// One GraphQL request; returns `data` after checking for `errors`.
    async fn graphql(
        &self,
        operation: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, BaselineError> {
        let mut response: Value = self
            .http
            .post(&self.graphql_url)
            .bearer_auth(&self.fluent_bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&json!({
                "query": query,
                "operationName": operation,
                "variables": variables,
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if response.get("errors").is_some() {
            return Err(format!("{operation} answered errors: {response}").into());
        }
        Ok(response["data"].take())
    }

    /// The `createCustomer` input customer sync maps this customer to with
    /// the default settings (username = id, contact address = default
    /// shipping, then default billing, then first address).
    fn create_input(&self, c: &Value) -> Value {
        let addresses = c["addresses"].as_array().map_or(&[][..], Vec::as_slice);
        let by_id = |field: &str| {
            c[field]
                .as_str()
                .and_then(|id| addresses.iter().find(|a| a["id"] == id))
        };
        let address = by_id("defaultShippingAddressId")
            .or_else(|| by_id("defaultBillingAddressId"))
            .or_else(|| addresses.first());
        let text = |v: &Value| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let phone = address.and_then(|a| text(&a["phone"]).or_else(|| text(&a["mobile"])));
        let mut attributes =
            vec![json!({ "name": "commercetools.id", "type": "STRING", "value": c["id"] })];
        for (name, field) in [
            ("commercetools.key", "key"),
            ("commercetools.customerNumber", "customerNumber"),
            ("commercetools.externalId", "externalId"),
        ] {
            if let Some(value) = c[field].as_str() {
                attributes.push(json!({ "name": name, "type": "STRING", "value": value }));
            }
        }
        attributes.push(
            json!({ "name": "commercetools.version", "type": "INTEGER", "value": c["version"] }),
        );
        let mut input = json!({
            "username": c["id"],
            "attributes": attributes,
            "primaryEmail": c["email"],
            "promotionOptIn": false,
            "retailer": { "id": self.retailer_id },
        });
        let fields = [
            ("title", text(&c["title"])),
            ("country", address.and_then(|a| text(&a["country"]))),
            ("firstName", text(&c["firstName"])),
            ("lastName", text(&c["lastName"])),
            ("primaryPhone", phone),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                input[name] = Value::String(value);
            }
        }
        input
    }
}
