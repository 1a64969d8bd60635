//! `#[handler(name = "...")]`: registers a message handler type under a name
//! that routes select in YAML. Use it through `connect_core::handler` or
//! `connect_sdk::handler`; this crate is an implementation detail.
//!
//! The expansion refers to the SDK through whichever of `connect-sdk` or
//! `connect-core` the calling crate depends on (override with
//! `crate = path`), so callers need no direct `inventory` dependency.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::parse::Parser;
use syn::{DeriveInput, Expr, ExprLit, ExprUnary, Lit, LitStr, Path, UnOp, parse_macro_input};

/// Registers a handler type under `name`.
///
/// ```ignore
/// #[derive(Default)]
/// #[handler(name = "FluentCustomerUpsert", priority = 10)]
/// struct FluentCustomerUpsert;
/// ```
///
/// - `name = "..."` (required): the name used in a route's `handler:`.
/// - `priority = N` (optional, default 0): when several handlers share a
///   name, the highest priority wins; equal priorities are a startup error.
/// - `crate = path` (optional): where the SDK is, if it was renamed.
///
/// The type must implement `MessageHandler` and `FromRoute` (any `Default`
/// type implements `FromRoute`). Generic types cannot be registered.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let mut priority: Option<i32> = None;
    let mut krate: Option<Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let value: LitStr = meta.value()?.parse()?;
            let text = value.value();
            if text.is_empty() {
                return Err(syn::Error::new(
                    value.span(),
                    "handler name must not be empty",
                ));
            }
            if let Some(bad) = text
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            {
                return Err(syn::Error::new(
                    value.span(),
                    format!(
                        "handler name `{text}` contains `{bad}`; use letters, digits, `_`, `-` and `.`"
                    ),
                ));
            }
            name = Some(value);
            Ok(())
        } else if meta.path.is_ident("priority") {
            let expr: Expr = meta.value()?.parse()?;
            priority = Some(parse_priority(&expr)?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let value: LitStr = meta.value()?.parse()?;
            krate = Some(value.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument; expected `name = \"...\"`, `priority = N` or `crate = \"path\"`",
            ))
        }
    });
    if let Err(error) = parser.parse(args) {
        return error.to_compile_error().into();
    }
    let input = parse_macro_input!(item as DeriveInput);
    match expand(&input, name, priority.unwrap_or(0), krate) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#input #error).into()
        }
    }
}

fn parse_priority(expr: &Expr) -> syn::Result<i32> {
    let bad = || {
        syn::Error::new_spanned(
            expr,
            "priority must be an integer literal, e.g. `priority = 10`",
        )
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<i32>(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match inner.as_ref() {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => int.base10_parse::<i32>().map(|n| -n),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn expand(
    input: &DeriveInput,
    name: Option<LitStr>,
    priority: i32,
    krate: Option<Path>,
) -> syn::Result<TokenStream2> {
    let name = name.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing handler name: write `#[handler(name = \"MyHandler\")]`",
        )
    })?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "`#[handler]` cannot register a generic type; register a concrete instantiation with `HandlerRegistry::register`",
        ));
    }
    let krate = match krate {
        Some(path) => quote!(#path),
        None => sdk_path()?,
    };
    let ident = &input.ident;
    Ok(quote! {
        #input

        #krate::__private::inventory::submit! {
            #krate::__private::HandlerRegistration {
                name: #name,
                priority: #priority,
                factory: #krate::__private::factory_for::<#ident>,
                type_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
            }
        }
    })
}

/// `::connect_sdk` or `::connect_core`, whichever the calling crate uses.
fn sdk_path() -> syn::Result<TokenStream2> {
    use proc_macro_crate::{FoundCrate, crate_name};
    for package in ["connect-sdk", "connect-core"] {
        match crate_name(package) {
            Ok(FoundCrate::Itself) => {
                let ident = syn::Ident::new(&package.replace('-', "_"), Span::call_site());
                return Ok(quote!(::#ident));
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = syn::Ident::new(&name, Span::call_site());
                return Ok(quote!(::#ident));
            }
            Err(_) => {}
        }
    }
    Err(syn::Error::new(
        Span::call_site(),
        "`#[handler]` needs `connect-sdk` (or `connect-core`) in this crate's [dependencies]",
    ))
}
