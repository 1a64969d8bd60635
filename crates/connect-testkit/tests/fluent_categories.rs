#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Fluent emulator's categories (validated against the category schema
//! subset, with Fluent's rules) and partner schema extensions, over real
//! loopback HTTP with the SDK's Fluent client.

use connect_fluent::FluentClient;
use connect_testkit::fluent::{FluentEmulator, ResolverError, SchemaExtension, UnknownRef};
use serde_json::{Value, json};

const CREATE: &str = "mutation CreateCategory($input: CreateCategoryInput) {
  createCategory(input: $input) {
    id ref type status name summary
    attributes { name type value }
    parentCategory { ref name parentCategory { ref } }
    catalogue { ref }
    createdOn updatedOn
  }
}";

const UPDATE: &str = "mutation UpdateCategory($input: UpdateCategoryInput) {
  updateCategory(input: $input) {
    ref type status name summary
    attributes { name type value }
    parentCategory { ref }
    updatedOn
  }
}";

const GET: &str = "query Category($ref: String!, $catalogue: ProductCatalogueKey!) {
  category(ref: $ref, catalogue: $catalogue) { id ref status name parentCategory { ref } catalogue { ref } }
}";

async fn setup() -> (FluentEmulator, FluentClient) {
    let emulator = FluentEmulator::builder()
        .catalogue("PC:MASTER:1")
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    (emulator, client)
}

fn input(reference: &str, catalogue: &str, parent: Option<&str>) -> Value {
    let mut input = json!({
        "ref": reference,
        "catalogue": { "ref": catalogue },
        "type": "STANDARD",
        "name": format!("Category {reference}"),
        "attributes": [{ "name": "ctId", "type": "STRING", "value": format!("ct-{reference}") }],
    });
    if let Some(parent) = parent {
        input["parentCategory"] = json!({ "ref": parent });
    }
    input
}

async fn create(client: &FluentClient, input: Value) -> Result<Value, connect_fluent::Error> {
    client
        .graphql_value(CREATE, &json!({ "input": input }))
        .await
        .map(|data| data["createCategory"].clone())
}

async fn update(client: &FluentClient, input: Value) -> Result<Value, connect_fluent::Error> {
    client
        .graphql_value(UPDATE, &json!({ "input": input }))
        .await
        .map(|data| data["updateCategory"].clone())
}

fn code(error: &connect_fluent::Error) -> String {
    error
        .codes()
        .first()
        .map(|c| (*c).to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_read_and_update_categories_with_fluents_rules() {
    let (emulator, client) = setup().await;
    let catalogue = emulator.default_catalogue();
    assert_eq!(catalogue, "DEFAULT:1");
    assert_eq!(emulator.catalogues(), ["DEFAULT:1", "PC:MASTER:1"]);

    let root = create(&client, input("root", &catalogue, None))
        .await
        .unwrap();
    assert_eq!(root["status"], "CREATED", "a category starts CREATED");
    assert_eq!(root["catalogue"]["ref"], catalogue.as_str());
    assert_eq!(root["parentCategory"], Value::Null);
    assert!(root["createdOn"].is_string() && root["createdOn"] == root["updatedOn"]);
    let child = create(&client, input("child", &catalogue, Some("root")))
        .await
        .unwrap();
    assert_eq!(child["parentCategory"]["ref"], "root");
    assert_eq!(child["parentCategory"]["name"], "Category root");
    let leaf = create(&client, input("leaf", &catalogue, Some("child")))
        .await
        .unwrap();
    assert_eq!(leaf["parentCategory"]["parentCategory"]["ref"], "root");

    // The same ref may exist in another catalogue.
    create(&client, input("root", "PC:MASTER:1", None))
        .await
        .unwrap();

    // Rules, each with its code; nothing is written.
    let cases = [
        (
            input("x", "NOPE", None),
            "C0404E",
            "ProductCatalogue with ref 'NOPE'",
        ),
        (input("x", &catalogue, Some("ghost")), "C0404E", "ghost"),
        (input("x", "PC:MASTER:1", Some("child")), "C0404E", "child"),
        (
            input(&"r".repeat(101), &catalogue, None),
            "C0400E",
            "ref exceeds max length 100",
        ),
        (input("root", &catalogue, None), "C0409E", "already exists"),
        (
            json!({"ref": "x", "catalogue": {"ref": catalogue}, "type": "T".repeat(51), "name": "n"}),
            "C0400E",
            "type exceeds max length 50",
        ),
        (
            json!({"ref": "", "catalogue": {"ref": catalogue}, "type": "T", "name": "n"}),
            "C0400E",
            "ref must not be empty",
        ),
        (
            json!({"ref": "x", "catalogue": {"ref": catalogue}, "type": "T", "name": "n", "parentCategory": {"ref": "root", "catalogue": {"ref": "PC:MASTER:1"}}}),
            "C0400E",
            "parentCategory",
        ),
    ];
    for (bad, expected, text) in cases {
        let error = create(&client, bad.clone()).await.unwrap_err();
        assert_eq!(code(&error), expected, "{bad}: {error}");
        assert!(error.to_string().contains(text), "{error}");
    }
    let fits = create(&client, input(&"r".repeat(100), &catalogue, None))
        .await
        .unwrap();
    assert_eq!(fits["ref"].as_str().map(str::len), Some(100));
    assert_eq!(emulator.categories().len(), 5);

    // No `status` on create: the schema refuses it before any rule runs.
    let mut with_status = input("y", &catalogue, None);
    with_status["status"] = json!("ACTIVE");
    let error = create(&client, with_status).await.unwrap_err();
    assert!(error.to_string().contains("status"), "{error}");
    assert_eq!(emulator.category(&catalogue, "y"), None);

    // Update: only present fields change; attributes merge by name.
    let updated = update(
        &client,
        json!({
            "ref": "leaf", "catalogue": {"ref": catalogue},
            "status": "ACTIVE", "name": "Leaf", "summary": null,
            "parentCategory": {"ref": "root"},
            "attributes": [
                {"name": "extra", "type": "STRING", "value": "1"},
                {"name": "ctId", "type": "STRING", "value": "changed"}
            ]
        }),
    )
    .await
    .unwrap();
    assert_eq!(updated["status"], "ACTIVE");
    assert_eq!(updated["name"], "Leaf");
    assert_eq!(updated["type"], "STANDARD", "absent fields stay");
    assert_eq!(updated["parentCategory"]["ref"], "root");
    assert_eq!(
        updated["attributes"],
        json!([{"name": "ctId", "type": "STRING", "value": "changed"},
               {"name": "extra", "type": "STRING", "value": "1"}])
    );
    for (bad, expected) in [
        (
            json!({"ref": "nobody", "catalogue": {"ref": catalogue}, "name": "n"}),
            "C0404E",
        ),
        (
            json!({"ref": "leaf", "catalogue": {"ref": "NOPE"}}),
            "C0404E",
        ),
        (
            json!({"ref": "leaf", "catalogue": {"ref": catalogue}, "parentCategory": {"ref": "ghost"}}),
            "C0404E",
        ),
        (
            json!({"ref": "root", "catalogue": {"ref": catalogue}, "parentCategory": {"ref": "child"}}),
            "C0400E",
        ),
        (
            json!({"ref": "root", "catalogue": {"ref": catalogue}, "type": "T".repeat(51)}),
            "C0400E",
        ),
    ] {
        let error = update(&client, bad.clone()).await.unwrap_err();
        assert_eq!(code(&error), expected, "{bad}: {error}");
    }

    // Reading one.
    let found = client
        .graphql_value(
            GET,
            &json!({"ref": "leaf", "catalogue": {"ref": catalogue}}),
        )
        .await
        .unwrap();
    assert_eq!(found["category"]["status"], "ACTIVE");
    assert_eq!(found["category"]["catalogue"]["ref"], catalogue.as_str());
    let missing = client
        .graphql_value(
            GET,
            &json!({"ref": "leaf", "catalogue": {"ref": "PC:MASTER:1"}}),
        )
        .await
        .unwrap();
    assert_eq!(missing["category"], Value::Null);
    let error = client
        .graphql_value("{ category(ref: \"leaf\") { ref } }", &json!({}))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("catalogue"),
        "a required argument: {error}"
    );

    // One write per call, counted per category and per operation.
    assert_eq!(emulator.category_create_count(&catalogue, "leaf"), 1);
    assert_eq!(emulator.category_update_count(&catalogue, "leaf"), 1);
    assert_eq!(emulator.category_update_count(&catalogue, "root"), 0);
    assert_eq!(emulator.mutation_count("createCategory"), 5);
    assert_eq!(emulator.mutation_count("updateCategory"), 1);
    let rejected = emulator
        .mutations()
        .iter()
        .filter(|m| m.error.is_some())
        .count();
    assert_eq!(
        rejected,
        8 + 5,
        "rule failures are recorded, schema failures never execute"
    );
    assert_eq!(emulator.customers().len(), 0);
}

#[tokio::test]
async fn seeding_catalogues_and_categories_directly() {
    let emulator = FluentEmulator::start().await.unwrap();
    assert!(!emulator.insert_catalogue("DEFAULT:1"), "seeded already");
    assert!(emulator.insert_catalogue("OTHER"));
    let created = emulator
        .insert_category(
            &json!({"ref": "a", "catalogue": {"ref": "OTHER"}, "type": "T", "name": "A"}),
        )
        .unwrap();
    assert_eq!(created["status"], "CREATED");
    let error = emulator
        .insert_category(&json!({"ref": "b", "catalogue": {"ref": "OTHER"}, "type": "T", "name": "B", "parentCategory": {"ref": "zz"}}))
        .unwrap_err();
    assert!(error.starts_with("C0404E: "), "{error}");
    assert_eq!(emulator.category_create_count("OTHER", "a"), 1);
    assert_eq!(
        emulator.mutation_count("createCategory"),
        0,
        "not a mutation"
    );
}

fn loyalty() -> SchemaExtension {
    SchemaExtension::new(
        "type LoyaltyTier { customerRef: String!  name: String!  points: Int! }
         input SetLoyaltyTierInput { customerRef: String!  name: String!  points: Int! }
         extend type Query { loyaltyTier(customerRef: String!): LoyaltyTier }
         extend type Mutation { setLoyaltyTier(input: SetLoyaltyTierInput!): LoyaltyTier }",
    )
    .query("loyaltyTier", |args, state| {
        let customer = args["customerRef"].as_str().unwrap_or_default();
        Ok(state.get(customer).cloned().unwrap_or(Value::Null))
    })
    .mutation("setLoyaltyTier", |args, state| {
        let input = &args["input"];
        if input["points"].as_i64().unwrap_or_default() < 0 {
            return Err(ResolverError::new(
                "C0400E",
                "Validation failed: points must not be negative",
            ));
        }
        let customer = input["customerRef"].as_str().unwrap_or_default().to_owned();
        state.insert(customer, input.clone());
        Ok(input.clone())
    })
}

#[tokio::test]
async fn partner_extensions_are_validated_and_resolved() {
    let emulator = FluentEmulator::builder()
        .extension(loyalty())
        .extension(SchemaExtension::new(
            "extend type Query { storeHours(ref: String!): String }",
        ))
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    emulator.set_extension_value(
        "ada",
        json!({"customerRef": "ada", "name": "GOLD", "points": 900}),
    );

    let read = client
        .graphql_value(
            "query Tier($c: String!) { loyaltyTier(customerRef: $c) { name points } }",
            &json!({"c": "ada"}),
        )
        .await
        .unwrap();
    assert_eq!(read["loyaltyTier"], json!({"name": "GOLD", "points": 900}));
    let none = client
        .graphql_value("{ loyaltyTier(customerRef: \"bob\") { name } }", &json!({}))
        .await
        .unwrap();
    assert_eq!(none["loyaltyTier"], Value::Null);

    let set = "mutation Set($input: SetLoyaltyTierInput!) { setLoyaltyTier(input: $input) { customerRef name } }";
    let written = client
        .graphql_value(
            set,
            &json!({"input": {"customerRef": "bob", "name": "SILVER", "points": 10}}),
        )
        .await
        .unwrap();
    assert_eq!(
        written["setLoyaltyTier"],
        json!({"customerRef": "bob", "name": "SILVER"})
    );
    assert_eq!(emulator.extension_value("bob").unwrap()["points"], 10);
    let error = client
        .graphql_value(
            set,
            &json!({"input": {"customerRef": "bob", "name": "X", "points": -1}}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.codes(), ["C0400E"], "{error}");
    assert_eq!(emulator.mutation_count("setLoyaltyTier"), 1);
    let recorded = emulator.mutations();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].operation_name.as_deref(), Some("Set"));
    assert_eq!(recorded[0].input["customerRef"], "bob");

    // Documents are validated against the merged schema.
    for (document, variables, mentioned) in [
        (
            "{ loyaltyTier(customerRef: \"ada\") { tierColour } }",
            json!({}),
            "tierColour",
        ),
        (
            "{ loyaltyTier(customer: \"ada\") { name } }",
            json!({}),
            "customer",
        ),
        (
            set,
            json!({"input": {"customerRef": "bob", "name": "X"}}),
            "points",
        ),
    ] {
        let error = client
            .graphql_value(document, &variables)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(mentioned), "{document}: {error}");
    }
    assert_eq!(
        emulator.mutations().len(),
        2,
        "invalid documents never execute"
    );

    // A declared field nobody resolves answers S0501E; the built-in fields still work.
    let error = client
        .graphql_value("{ storeHours(ref: \"s1\") }", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(error.codes(), ["S0501E"]);
    let category = client
        .graphql_value(
            GET,
            &json!({"ref": "none", "catalogue": {"ref": emulator.default_catalogue()}}),
        )
        .await
        .unwrap();
    assert_eq!(category["category"], Value::Null);
}

#[tokio::test]
async fn a_resolver_for_an_undeclared_field_stops_the_start() {
    let extension =
        SchemaExtension::new("type Nothing { x: Int }").query("ghost", |_, _| Ok(Value::Null));
    let error = FluentEmulator::builder()
        .extension(extension)
        .start()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Query.ghost"), "{error}");
    let error = FluentEmulator::builder()
        .extension(SchemaExtension::new("extend type Query { broken: Nope }"))
        .start()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Nope"), "{error}");
}

#[tokio::test]
async fn an_unknown_category_can_answer_not_found() {
    let emulator = FluentEmulator::builder()
        .unknown_ref(UnknownRef::NotFoundError)
        .start()
        .await
        .unwrap();
    let client = FluentClient::new(emulator.config()).unwrap();
    let variables = json!({"ref": "nope", "catalogue": {"ref": emulator.default_catalogue()}});
    let error = client.graphql_value(GET, &variables).await.unwrap_err();
    assert_eq!(error.codes(), ["C0120E"], "{error}");
}
