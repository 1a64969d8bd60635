//! Builds an executable `async-graphql` schema from SDL text.
//!
//! Every type of the SDL becomes a dynamic type of the same name, fields,
//! arguments, nullability and defaults, so the engine validates documents
//! and variables exactly as a GraphQL server with that schema does. Object
//! fields read the parent object's JSON by field name; the root fields the
//! emulator implements (`customer`, `customers`, `createCustomer`,
//! `updateCustomer`, `category`, `createCategory`, `updateCategory`,
//! `orderById`, `order`) have
//! resolvers backed by the emulator's stores, partner extensions bring
//! resolvers for theirs, and any other root field answers with an `S0501E`
//! error.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, TypeRef,
};
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeDefinition, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{ErrorExtensions, Value as GqlValue};
use serde_json::{Map, Value, json};

use super::RecordedMutation;
use super::extension::{Resolver, SchemaExtension};
use super::state::{Shared, UnknownRef};
use super::store::{Rejection, VALIDATION_FAILED, numeric_id};

/// The operation name of the request being executed (request data).
#[derive(Debug, Clone)]
pub(crate) struct OperationName(pub(crate) Option<String>);

/// Default and upper bound of `customers(first:)`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 5_000;

/// An SDL that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the GraphQL schema: {0}")]
pub(crate) struct SchemaBuildError(String);

/// Which root type an object is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Root {
    Query,
    Mutation,
    None,
}

/// Builds the executable schema for `sdl` followed by every extension's.
pub(crate) fn build(
    sdl: &str,
    extensions: &[SchemaExtension],
    shared: &Arc<Shared>,
) -> Result<Schema, SchemaBuildError> {
    let mut merged = sdl.to_owned();
    let mut resolvers: HashMap<(Root, String), Resolver> = HashMap::new();
    for extension in extensions {
        merged.push('\n');
        merged.push_str(&extension.sdl);
        for (root, fields) in [
            (Root::Query, &extension.queries),
            (Root::Mutation, &extension.mutations),
        ] {
            for (name, resolver) in fields {
                resolvers.insert((root, name.clone()), Arc::clone(resolver));
            }
        }
    }
    let document = parse_schema(&merged).map_err(|e| SchemaBuildError(e.to_string()))?;
    let mut query = "Query".to_owned();
    let mut mutation: Option<String> = None;
    let mut explicit_roots = false;
    let mut objects = HashSet::new();
    for definition in &document.definitions {
        match definition {
            TypeSystemDefinition::Schema(schema) => {
                explicit_roots = true;
                if let Some(name) = &schema.node.query {
                    query = name.node.to_string();
                }
                mutation = schema.node.mutation.as_ref().map(|m| m.node.to_string());
            }
            TypeSystemDefinition::Type(ty) => {
                if matches!(ty.node.kind, TypeKind::Object(_)) {
                    objects.insert(ty.node.name.node.to_string());
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    if !explicit_roots && objects.contains("Mutation") {
        mutation = Some("Mutation".to_owned());
    }
    let objects = Arc::new(objects);
    let mut builder = Schema::build(&query, mutation.as_deref(), None);
    for ty in merge_extensions(document.definitions)? {
        let name = ty.name.node.to_string();
        let description = ty.description.map(|d| d.node);
        match ty.kind {
            TypeKind::Scalar => {
                let mut scalar = Scalar::new(&name);
                if name == "DateTime" {
                    scalar = scalar.validator(|value| matches!(value, GqlValue::String(_)));
                }
                if let Some(description) = description {
                    scalar = scalar.description(description);
                }
                builder = builder.register(scalar);
            }
            TypeKind::Object(object) => {
                let root = if name == query {
                    Root::Query
                } else if Some(&name) == mutation.as_ref() {
                    Root::Mutation
                } else {
                    Root::None
                };
                let mut dynamic = Object::new(&name);
                if let Some(description) = description {
                    dynamic = dynamic.description(description);
                }
                for field in object.fields {
                    let resolver = resolvers.remove(&(root, field.node.name.node.to_string()));
                    dynamic =
                        dynamic.field(build_field(root, field.node, &objects, shared, resolver));
                }
                builder = builder.register(dynamic);
            }
            TypeKind::InputObject(input) => {
                let mut dynamic = InputObject::new(&name);
                if let Some(description) = description {
                    dynamic = dynamic.description(description);
                }
                for field in input.fields {
                    dynamic = dynamic.field(input_value(field.node));
                }
                builder = builder.register(dynamic);
            }
            TypeKind::Enum(values) => {
                let mut dynamic = Enum::new(&name)
                    .items(values.values.iter().map(|v| v.node.value.node.to_string()));
                if let Some(description) = description {
                    dynamic = dynamic.description(description);
                }
                builder = builder.register(dynamic);
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => {
                return Err(SchemaBuildError(format!(
                    "type `{name}`: interfaces and unions are not supported by the Fluent emulator"
                )));
            }
        }
    }
    if let Some(((root, name), _)) = resolvers.into_iter().next() {
        return Err(SchemaBuildError(format!(
            "a schema extension has a resolver for {root:?}.{name}, but the schema declares no such root field; add it to the extension's SDL (`extend type {root:?} {{ {name}: ... }}`)"
        )));
    }
    builder
        .finish()
        .map_err(|e| SchemaBuildError(e.to_string()))
}

/// The type definitions with every `extend type` / `extend input` folded
/// into the type it extends.
fn merge_extensions(
    definitions: Vec<TypeSystemDefinition>,
) -> Result<Vec<TypeDefinition>, SchemaBuildError> {
    let mut types: Vec<TypeDefinition> = Vec::new();
    let mut extensions: Vec<TypeDefinition> = Vec::new();
    for definition in definitions {
        if let TypeSystemDefinition::Type(ty) = definition {
            if ty.node.extend {
                extensions.push(ty.node);
            } else {
                types.push(ty.node);
            }
        }
    }
    for extension in extensions {
        let name = extension.name.node.to_string();
        let base = types
            .iter_mut()
            .find(|t| t.name.node == extension.name.node)
            .ok_or_else(|| SchemaBuildError(format!("`extend` of unknown type `{name}`")))?;
        match (&mut base.kind, extension.kind) {
            (TypeKind::Object(base), TypeKind::Object(more)) => base.fields.extend(more.fields),
            (TypeKind::InputObject(base), TypeKind::InputObject(more)) => {
                base.fields.extend(more.fields);
            }
            (TypeKind::Enum(base), TypeKind::Enum(more)) => base.values.extend(more.values),
            _ => {
                return Err(SchemaBuildError(format!(
                    "`extend` of `{name}`: only objects, inputs and enums can be extended, with the same kind"
                )));
            }
        }
    }
    Ok(types)
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::named(name.to_string()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        base
    } else {
        TypeRef::NonNull(Box::new(base))
    }
}

fn input_value(definition: InputValueDefinition) -> InputValue {
    let mut value = InputValue::new(
        definition.name.node.to_string(),
        type_ref(&definition.ty.node),
    );
    if let Some(default) = definition.default_value {
        value = value.default_value(default.node);
    }
    if let Some(description) = definition.description {
        value = value.description(description.node);
    }
    value
}

fn build_field(
    root: Root,
    definition: FieldDefinition,
    objects: &Arc<HashSet<String>>,
    shared: &Arc<Shared>,
    resolver: Option<Resolver>,
) -> Field {
    let name = definition.name.node.to_string();
    let ty = definition.ty.node;
    let paged = definition
        .arguments
        .iter()
        .any(|argument| argument.node.name.node == "first");
    let mut field = match (root, resolver) {
        (Root::None, _) => object_field(&name, ty, Arc::clone(objects), paged),
        (_, Some(resolver)) => extension_field(root, &name, &ty, Arc::clone(shared), resolver),
        (Root::Query | Root::Mutation, None) => root_field(root, &name, &ty, Arc::clone(shared)),
    };
    if let Some(description) = definition.description {
        field = field.description(description.node);
    }
    for argument in definition.arguments {
        field = field.argument(input_value(argument.node));
    }
    field
}

/// A field of an ordinary object: the parent JSON's member of that name.
/// A `paged` field (one with a `first` argument, e.g.
/// `Order.fulfilments(first:)`) holding a connection serves its first
/// `first` edges, with `pageInfo.hasNextPage` set accordingly.
fn object_field(name: &str, ty: Type, objects: Arc<HashSet<String>>, paged: bool) -> Field {
    let key: Arc<str> = Arc::from(name);
    let ty = Arc::new(ty);
    let reference = type_ref(&ty);
    Field::new(name, reference, move |ctx| {
        let key = Arc::clone(&key);
        let ty = Arc::clone(&ty);
        let objects = Arc::clone(&objects);
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<Value>()?;
            let mut value = parent.get(&*key).cloned().unwrap_or(Value::Null);
            if paged {
                first_edges(&mut value, &ctx)?;
            }
            Ok(to_field_value(value, &ty, &objects))
        })
    })
}

/// Keeps the first `first` edges of a stored connection (all when `first`
/// is absent).
fn first_edges(connection: &mut Value, ctx: &ResolverContext<'_>) -> async_graphql::Result<()> {
    let first = match ctx.args.get("first") {
        Some(first) if !first.is_null() => usize::try_from(first.i64()?).map_err(|_| {
            coded(
                VALIDATION_FAILED,
                "Validation failed: first must not be negative",
            )
        })?,
        _ => return Ok(()),
    };
    if let Some(Value::Array(edges)) = connection.get_mut("edges") {
        let more = edges.len() > first;
        edges.truncate(first);
        connection["pageInfo"] = json!({ "hasNextPage": more });
    }
    Ok(())
}

/// Turns JSON into what the engine resolves further: objects stay JSON
/// (their fields resolve through [`object_field`]), leaves become values.
fn to_field_value(
    value: Value,
    ty: &Type,
    objects: &HashSet<String>,
) -> Option<FieldValue<'static>> {
    if value.is_null() {
        return None;
    }
    match (&ty.base, value) {
        (BaseType::List(inner), Value::Array(items)) => {
            Some(FieldValue::list(items.into_iter().map(|item| {
                to_field_value(item, inner, objects).unwrap_or(FieldValue::NULL)
            })))
        }
        (BaseType::Named(name), value) if objects.contains(name.as_str()) => {
            Some(FieldValue::owned_any(value))
        }
        (_, value) => GqlValue::from_json(value).ok().map(FieldValue::value),
    }
}

fn root_field(root: Root, name: &str, ty: &Type, shared: Arc<Shared>) -> Field {
    let reference = type_ref(ty);
    let nullable = ty.nullable;
    match (root, name) {
        (Root::Query, "customer") => Field::new(name, reference, move |ctx| {
            let shared = Arc::clone(&shared);
            FieldFuture::new(async move {
                let result =
                    ctx.args
                        .try_get("ref")
                        .and_then(|r| r.string())
                        .and_then(|reference| match shared.store().get(reference).cloned() {
                            None if shared.settings.unknown_ref == UnknownRef::NotFoundError => {
                                Err(coded(
                                    "C0120E",
                                    &format!("Customer with ref '{reference}' could not be found"),
                                ))
                            }
                            found => Ok(found),
                        });
                resolved(&ctx, nullable, result)
            })
        }),
        (Root::Query, "customers") => Field::new(name, reference, move |ctx| {
            let shared = Arc::clone(&shared);
            FieldFuture::new(async move {
                let result = customers_connection(&shared, &ctx).map(Some);
                resolved(&ctx, nullable, result)
            })
        }),
        (Root::Query, "orderById" | "order") => {
            let by_id = name == "orderById";
            Field::new(name, reference, move |ctx| {
                let shared = Arc::clone(&shared);
                FieldFuture::new(async move {
                    let result = order(&shared, &ctx, by_id);
                    resolved(&ctx, nullable, result)
                })
            })
        }
        (Root::Query, "category") => Field::new(name, reference, move |ctx| {
            let shared = Arc::clone(&shared);
            FieldFuture::new(async move {
                let result = category(&shared, &ctx);
                resolved(&ctx, nullable, result)
            })
        }),
        (
            Root::Mutation,
            "createCustomer" | "updateCustomer" | "createCategory" | "updateCategory",
        ) => {
            let mutation: Arc<str> = Arc::from(name);
            Field::new(name, reference, move |ctx| {
                let shared = Arc::clone(&shared);
                let mutation = Arc::clone(&mutation);
                FieldFuture::new(async move {
                    let result = run_mutation(&shared, &mutation, &ctx).map(Some);
                    resolved(&ctx, nullable, result)
                })
            })
        }
        _ => {
            let qualified = format!(
                "{}.{name}",
                if root == Root::Query {
                    "Query"
                } else {
                    "Mutation"
                }
            );
            Field::new(name, reference, move |ctx| {
                let qualified = qualified.clone();
                FieldFuture::new(async move {
                    let result = Err(coded(
                        "S0501E",
                        &format!("{qualified} is not implemented by the Fluent emulator"),
                    ));
                    resolved(&ctx, nullable, result)
                })
            })
        }
    }
}

/// A root field a partner extension resolves.
fn extension_field(
    root: Root,
    name: &str,
    ty: &Type,
    shared: Arc<Shared>,
    resolver: Resolver,
) -> Field {
    let reference = type_ref(ty);
    let nullable = ty.nullable;
    let field: Arc<str> = Arc::from(name);
    Field::new(name, reference, move |ctx| {
        let shared = Arc::clone(&shared);
        let resolver = Arc::clone(&resolver);
        let field = Arc::clone(&field);
        FieldFuture::new(async move {
            let result = arguments(&ctx).and_then(|args| {
                let outcome = resolver(&args, &mut shared.extension_state());
                if root == Root::Mutation {
                    let input = args.get("input").cloned().unwrap_or(args);
                    record(
                        &shared,
                        &field,
                        &ctx,
                        input,
                        outcome.as_ref().err().map(ToString::to_string),
                    );
                }
                outcome
                    .map(|value| Some(value).filter(|v| !v.is_null()))
                    .map_err(|error| coded(&error.code, &error.message))
            });
            resolved(&ctx, nullable, result)
        })
    })
}

/// Every argument of the field, as a JSON object.
fn arguments(ctx: &ResolverContext<'_>) -> async_graphql::Result<Value> {
    let mut args = Map::new();
    for (name, value) in ctx.args.iter() {
        args.insert(name.to_string(), value.as_value().clone().into_json()?);
    }
    Ok(Value::Object(args))
}

/// `category(ref:, catalogue:)`.
fn category(shared: &Shared, ctx: &ResolverContext<'_>) -> async_graphql::Result<Option<Value>> {
    let reference = ctx.args.try_get("ref")?.string()?;
    let catalogue = ctx.args.try_get("catalogue")?.object()?;
    let catalogue = catalogue.try_get("ref")?.string()?;
    match shared.categories().get(catalogue, reference) {
        None if shared.settings.unknown_ref == UnknownRef::NotFoundError => Err(coded(
            "C0120E",
            &format!(
                "Category with ref '{reference}' in catalogue '{catalogue}' could not be found"
            ),
        )),
        found => Ok(found),
    }
}

/// `orderById(id:)` (`by_id`) or `order(ref:)`.
fn order(
    shared: &Shared,
    ctx: &ResolverContext<'_>,
    by_id: bool,
) -> async_graphql::Result<Option<Value>> {
    let (argument, found) = if by_id {
        let id = match ctx.args.try_get("id")?.as_value() {
            GqlValue::String(id) => id.clone(),
            other => other.to_string(),
        };
        let found = shared.orders().get(&id).cloned();
        (format!("id '{id}'"), found)
    } else {
        let reference = ctx.args.try_get("ref")?.string()?;
        let found = shared.orders().by_ref(reference).cloned();
        (format!("ref '{reference}'"), found)
    };
    match found {
        None if shared.settings.unknown_ref == UnknownRef::NotFoundError => Err(coded(
            "C0120E",
            &format!("Order with {argument} could not be found"),
        )),
        found => Ok(found),
    }
}

/// A root field's result. An error of a nullable field is reported the way
/// GraphQL servers do: the field becomes `null` and the error carries the
/// field's `path` and `locations`.
fn resolved(
    ctx: &ResolverContext<'_>,
    nullable: bool,
    result: async_graphql::Result<Option<Value>>,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    match result {
        Ok(value) => Ok(value.map(FieldValue::owned_any)),
        Err(error) if nullable => {
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

fn coded(code: &str, message: &str) -> async_graphql::Error {
    let full = format!("{code}: {message}");
    let code = code.to_owned();
    async_graphql::Error::new(full)
        .extend_with(move |_, extensions| extensions.set("code", code.clone()))
}

fn rejected(rejection: &Rejection) -> async_graphql::Error {
    coded(rejection.code, &rejection.message)
}

fn run_mutation(
    shared: &Shared,
    mutation: &str,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<Value> {
    let input = ctx
        .args
        .get("input")
        .map(|v| v.as_value().clone().into_json())
        .transpose()?
        .unwrap_or(Value::Null);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let result = match &input {
        Value::Object(fields) => match mutation {
            "createCustomer" => shared
                .store()
                .create(fields, &shared.settings.retailer_id, &now),
            "updateCustomer" => shared.store().update(fields, &now),
            "createCategory" => shared.categories().create(fields, &now),
            _ => shared.categories().update(fields, &now),
        },
        _ => Err(Rejection {
            code: VALIDATION_FAILED,
            message: format!("Validation failed: {mutation} needs an `input`"),
        }),
    };
    let error = result.as_ref().err().map(Rejection::full_message);
    record(shared, mutation, ctx, input, error);
    result.map_err(|rejection| rejected(&rejection))
}

/// Logs an executed mutation (see `FluentEmulator::mutations`).
fn record(
    shared: &Shared,
    mutation: &str,
    ctx: &ResolverContext<'_>,
    input: Value,
    error: Option<String>,
) {
    let operation_name = ctx.data_opt::<OperationName>().and_then(|o| o.0.clone());
    shared.record_mutation(RecordedMutation {
        name: mutation.to_owned(),
        operation_name,
        input,
        error,
    });
}

fn customers_connection(
    shared: &Shared,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<Value> {
    let filter = |name: &str| -> async_graphql::Result<Option<Vec<String>>> {
        match ctx.args.get(name) {
            Some(list) if !list.is_null() => Ok(Some(
                list.list()?
                    .iter()
                    .filter_map(|item| item.string().ok().map(str::to_owned))
                    .collect(),
            )),
            _ => Ok(None),
        }
    };
    let filters = [
        ("ref", filter("ref")?),
        ("username", filter("username")?),
        ("primaryEmail", filter("primaryEmail")?),
    ];
    let first = match ctx.args.get("first") {
        Some(first) if !first.is_null() => {
            let first = first.i64()?;
            usize::try_from(first)
                .ok()
                .filter(|f| *f <= MAX_PAGE)
                .ok_or_else(|| {
                    coded(
                        VALIDATION_FAILED,
                        &format!("Validation failed: first must be between 0 and {MAX_PAGE}"),
                    )
                })?
        }
        _ => DEFAULT_PAGE,
    };
    let after = match ctx.args.get("after") {
        Some(after) if !after.is_null() => Some(after.string()?.parse::<u64>().map_err(|_| {
            coded(
                VALIDATION_FAILED,
                "Validation failed: after is not a cursor of this connection",
            )
        })?),
        _ => None,
    };
    let matching: Vec<Value> = shared
        .store()
        .all()
        .into_iter()
        .filter(|customer| after.is_none_or(|after| numeric_id(customer) > after))
        .filter(|customer| {
            filters.iter().all(|(field, allowed)| {
                allowed.as_ref().is_none_or(|allowed| {
                    customer
                        .get(*field)
                        .and_then(Value::as_str)
                        .is_some_and(|value| allowed.iter().any(|a| a == value))
                })
            })
        })
        .collect();
    let has_next_page = matching.len() > first;
    let edges: Vec<Value> = matching
        .into_iter()
        .take(first)
        .map(|customer| {
            let cursor = numeric_id(&customer).to_string();
            json!({ "node": customer, "cursor": cursor })
        })
        .collect();
    let mut connection = Map::new();
    connection.insert("edges".into(), Value::Array(edges));
    connection.insert("pageInfo".into(), json!({ "hasNextPage": has_next_page }));
    Ok(Value::Object(connection))
}
