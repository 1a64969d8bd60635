//! `${VAR}` / `${VAR:-default}` interpolation, applied to every scalar while
//! the YAML document is deserialized, so errors keep their line numbers.
//!
//! [`Interpolating`] wraps any serde [`Deserializer`] and rewrites each string
//! scalar before the target type sees it. Numbers and booleans written as
//! `${VAR}` are parsed after substitution when the target asks for a number
//! or a boolean. Map keys are never interpolated.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Where variable values come from.
pub trait EnvSource: Sync {
    /// The value of `name`, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;

    /// Like [`var`](Self::var), but tells a variable that is set to a value
    /// that is not valid UTF-8 ([`InterpolationError::NotUnicode`]) from one
    /// that is not set. The default calls `var`.
    fn lookup(&self, name: &str) -> Result<Option<String>, InterpolationError> {
        Ok(self.var(name))
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn lookup(&self, name: &str) -> Result<Option<String>, InterpolationError> {
        match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(InterpolationError::NotUnicode(name.to_owned()))
            }
        }
    }
}

impl<S: std::hash::BuildHasher + Sync> EnvSource for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvSource for std::collections::BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a `${...}` expression could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// The variable is not set and has no default.
    #[error(
        "environment variable `{0}` is not set; export it, or give a default with `${{{0}:-value}}`"
    )]
    Missing(String),
    /// `${` without a closing `}`.
    #[error("`${{` without a closing `}}` in `{0}`; write `$$` for a literal `$`")]
    Unterminated(String),
    /// The variable is set, but its value is not valid UTF-8 (the file is
    /// UTF-8, so the value could not be put in it).
    #[error(
        "environment variable `{0}` is set, but its value is not valid UTF-8; set it to UTF-8 text (check the encoding of the file or secret store it comes from)"
    )]
    NotUnicode(String),
    /// The name is not a valid variable name.
    #[error(
        "`{0}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)"
    )]
    BadName(String),
}

/// Marks where a `${...}` expression stood, between two private-use
/// characters that YAML accepts in any scalar (even inside `[...]`, where a
/// literal `{` would open a mapping) and that no real text contains.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The `${...}` expressions of a document, lifted out before YAML parsing and
/// evaluated when each scalar is deserialized.
///
/// Lifting the expressions out first keeps the document valid YAML whatever
/// the values contain (a secret with `: ` or `#` cannot change the structure)
/// and wherever the expression stands (`scopes: [view_customers:${KEY}]`).
pub(crate) struct Resolver<'a> {
    env: &'a dyn EnvSource,
    exprs: Vec<String>,
}

impl<'a> Resolver<'a> {
    /// Replaces every `${expr}` of `text` with a marker. `Err` carries the
    /// byte offset of a malformed expression.
    pub(crate) fn prepare(
        text: &str,
        env: &'a dyn EnvSource,
    ) -> Result<(String, Self), (usize, InterpolationError)> {
        let mut out = String::with_capacity(text.len());
        let mut exprs = Vec::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push_str("$$");
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let offset = text.len() - rest.len() + pos;
                let end = body
                    .find(['}', '\n'])
                    .filter(|&end| body[end..].starts_with('}'))
                    .ok_or_else(|| {
                        let line_end = body.find('\n').unwrap_or(body.len());
                        (
                            offset,
                            InterpolationError::Unterminated(format!("${{{}", &body[..line_end])),
                        )
                    })?;
                let expr = &body[..end];
                let name = expr.split_once(":-").map_or(expr, |(name, _)| name);
                if !is_var_name(name) {
                    return Err((offset, InterpolationError::BadName(name.to_owned())));
                }
                out.push(OPEN);
                out.push_str(&exprs.len().to_string());
                out.push(CLOSE);
                exprs.push(expr.to_owned());
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok((out, Self { env, exprs }))
    }

    /// `true` when `value` holds a marker or a `$$` escape.
    fn needs_expansion(value: &str) -> bool {
        value.contains(OPEN) || value.contains("$$")
    }

    /// Evaluates the markers and `$$` escapes of one scalar.
    fn expand(&self, value: &str) -> Result<String, InterpolationError> {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                OPEN => {
                    let (expr, skip) = self.marker(&value[i..]);
                    for _ in 0..skip {
                        chars.next();
                    }
                    match expr {
                        Some(expr) => out.push_str(&self.evaluate(expr)?),
                        None => out.push(c),
                    }
                }
                '$' if chars.peek().is_some_and(|&(_, next)| next == '$') => {
                    chars.next();
                    out.push('$');
                }
                _ => out.push(c),
            }
        }
        Ok(out)
    }

    /// The text as the user wrote it (markers turned back into `${...}`).
    fn original(&self, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == OPEN {
                let (expr, skip) = self.marker(&value[i..]);
                if let Some(expr) = expr {
                    for _ in 0..skip {
                        chars.next();
                    }
                    out.push_str("${");
                    out.push_str(expr);
                    out.push('}');
                    continue;
                }
            }
            out.push(c);
        }
        out
    }

    /// The expression of the marker at the start of `text`, and how many
    /// characters after the opening one the marker spans.
    fn marker<'t>(&'t self, text: &str) -> (Option<&'t str>, usize) {
        let body = &text[OPEN.len_utf8()..];
        let Some(end) = body.find(CLOSE) else {
            return (None, 0);
        };
        let index = body[..end].parse::<usize>().ok();
        match index.and_then(|i| self.exprs.get(i)) {
            Some(expr) => (Some(expr.as_str()), body[..end].chars().count() + 1),
            None => (None, 0),
        }
    }

    fn evaluate(&self, expr: &str) -> Result<String, InterpolationError> {
        let (name, default) = match expr.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expr, None),
        };
        match (self.env.lookup(name)?, default) {
            (Some(value), _) => Ok(value),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => Err(InterpolationError::Missing(name.to_owned())),
        }
    }
}

/// A [`Deserializer`] adapter that interpolates every scalar string.
#[derive(Clone, Copy)]
pub(crate) struct Interpolating<'e, D> {
    pub(crate) inner: D,
    pub(crate) env: &'e Resolver<'e>,
}

impl<D> fmt::Debug for Interpolating<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interpolating")
    }
}

/// Wraps a [`DeserializeSeed`] so the value it reads is interpolated.
pub(crate) struct Seed<'e, S> {
    pub(crate) seed: S,
    pub(crate) env: &'e Resolver<'e>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.seed.deserialize(Interpolating {
            inner: deserializer,
            env: self.env,
        })
    }
}

/// What a visitor wrapper does with string scalars.
#[derive(Clone, Copy)]
enum Target {
    /// Hand the expanded string to the visitor.
    Str,
    /// The visitor wants a boolean: parse the expanded string.
    Bool,
    /// The visitor wants a signed integer.
    Signed,
    /// The visitor wants an unsigned integer.
    Unsigned,
    /// The visitor wants a float.
    Float,
}

struct Wrap<'e, V> {
    visitor: V,
    env: &'e Resolver<'e>,
    target: Target,
}

impl<'e, V> Wrap<'e, V> {
    fn new(visitor: V, env: &'e Resolver<'e>, target: Target) -> Self {
        Self {
            visitor,
            env,
            target,
        }
    }
}

impl<'de, V: Visitor<'de>> Wrap<'_, V> {
    fn expand<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
        if !Resolver::needs_expansion(value) {
            return self.plain(value);
        }
        let expanded = self.env.expand(value).map_err(E::custom)?;
        let written = self.env.original(value);
        match self.target {
            Target::Str => self.visitor.visit_string(expanded),
            Target::Bool => match expanded.trim() {
                "true" => self.visitor.visit_bool(true),
                "false" => self.visitor.visit_bool(false),
                other => Err(E::custom(format_args!(
                    "`{written}` expanded to `{other}`, expected `true` or `false`"
                ))),
            },
            Target::Signed => match expanded.trim().parse::<i64>() {
                Ok(n) => self.visitor.visit_i64(n),
                Err(_) => Err(E::custom(format_args!(
                    "`{written}` expanded to `{expanded}`, expected an integer"
                ))),
            },
            Target::Unsigned => match expanded.trim().parse::<u64>() {
                Ok(n) => self.visitor.visit_u64(n),
                Err(_) => Err(E::custom(format_args!(
                    "`{written}` expanded to `{expanded}`, expected a non-negative integer"
                ))),
            },
            Target::Float => match expanded.trim().parse::<f64>() {
                Ok(n) => self.visitor.visit_f64(n),
                Err(_) => Err(E::custom(format_args!(
                    "`{written}` expanded to `{expanded}`, expected a number"
                ))),
            },
        }
    }

    fn plain<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
        self.visitor.visit_str(value)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.visitor.visit_bool(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.visitor.visit_i64(v)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
        self.visitor.visit_i128(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visitor.visit_u64(v)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
        self.visitor.visit_u128(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.visitor.visit_f64(v)
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<Self::Value, E> {
        self.visitor.visit_char(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.expand(v)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if Resolver::needs_expansion(v) {
            self.expand(v)
        } else {
            self.visitor.visit_borrowed_str(v)
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if Resolver::needs_expansion(&v) {
            self.expand(&v)
        } else {
            self.visitor.visit_string(v)
        }
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        self.visitor.visit_bytes(v)
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        self.visitor.visit_byte_buf(v)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visitor.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(Interpolating {
            inner: deserializer,
            env: self.env,
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visitor.visit_unit()
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.visitor.visit_newtype_struct(Interpolating {
            inner: deserializer,
            env: self.env,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_seq(Access {
            inner: seq,
            env: self.env,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_map(Access {
            inner: map,
            env: self.env,
        })
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.visitor.visit_enum(Access {
            inner: data,
            env: self.env,
        })
    }
}

/// Wraps seq, map, enum and variant accessors.
struct Access<'e, A> {
    inner: A,
    env: &'e Resolver<'e>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.inner.next_element_seed(Seed {
            seed,
            env: self.env,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.next_value_seed(Seed {
            seed,
            env: self.env,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'e, A: EnumAccess<'de>> EnumAccess<'de> for Access<'e, A> {
    type Error = A::Error;
    type Variant = Access<'e, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let env = self.env;
        let (value, variant) = self.inner.variant_seed(Seed { seed, env })?;
        Ok((
            value,
            Access {
                inner: variant,
                env,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.inner.newtype_variant_seed(Seed {
            seed,
            env: self.env,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .tuple_variant(len, Wrap::new(visitor, self.env, Target::Str))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .struct_variant(fields, Wrap::new(visitor, self.env, Target::Str))
    }
}

macro_rules! forward_scalar {
    ($($method:ident => $target:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.deserialize_any(Wrap::new(visitor, self.env, Target::$target))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Interpolating<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_any(Wrap::new(visitor, self.env, Target::Str))
    }

    forward_scalar! {
        deserialize_bool => Bool,
        deserialize_i8 => Signed,
        deserialize_i16 => Signed,
        deserialize_i32 => Signed,
        deserialize_i64 => Signed,
        deserialize_i128 => Signed,
        deserialize_u8 => Unsigned,
        deserialize_u16 => Unsigned,
        deserialize_u32 => Unsigned,
        deserialize_u64 => Unsigned,
        deserialize_u128 => Unsigned,
        deserialize_f32 => Float,
        deserialize_f64 => Float,
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_char(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_str(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_string(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_bytes(visitor)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_byte_buf(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_option(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_unit(visitor)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_unit_struct(name, visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_newtype_struct(name, Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_seq(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_tuple(len, Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_tuple_struct(name, len, Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_map(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_struct(name, fields, Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_enum(name, variants, Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner
            .deserialize_identifier(Wrap::new(visitor, self.env, Target::Str))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_ignored_any(visitor)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Turns an already expanded string into a value of a scalar type; used by
/// tests of this module only.
#[cfg(test)]
fn expand_into<T: de::DeserializeOwned>(
    text: &str,
    env: &dyn EnvSource,
) -> Result<T, de::value::Error> {
    use de::IntoDeserializer;
    let (prepared, resolver) =
        Resolver::prepare(text, env).map_err(|(_, e)| de::Error::custom(e))?;
    T::deserialize(Interpolating {
        inner: IntoDeserializer::<de::value::Error>::into_deserializer(prepared.as_str()),
        env: &resolver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("A".to_owned(), "alpha".to_owned()),
            ("N".to_owned(), "42".to_owned()),
            ("T".to_owned(), "true".to_owned()),
        ])
    }

    fn expand(text: &str) -> Result<String, String> {
        expand_into::<String>(text, &env()).map_err(|e| e.to_string())
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        assert_eq!(expand("x-${A}-y").unwrap(), "x-alpha-y");
        assert_eq!(expand("${B:-beta}").unwrap(), "beta");
        assert_eq!(expand("${B:-}").unwrap(), "");
        assert_eq!(expand("$${A}").unwrap(), "${A}");
        assert_eq!(expand("cost $5").unwrap(), "cost $5");
        assert_eq!(expand("${A}${N}").unwrap(), "alpha42");
    }

    #[test]
    fn reports_missing_unterminated_and_bad_names() {
        assert_eq!(
            expand("${NOPE}").unwrap_err(),
            InterpolationError::Missing("NOPE".to_owned()).to_string()
        );
        let unterminated = expand("${A").unwrap_err();
        assert!(unterminated.contains("without a closing"), "{unterminated}");
        let bad_name = expand("${1A}").unwrap_err();
        assert_eq!(
            bad_name,
            InterpolationError::BadName("1A".to_owned()).to_string()
        );
        let message = expand("${NOPE}").unwrap_err();
        assert!(message.contains("`NOPE`") && message.contains("${NOPE:-value}"));
    }

    #[test]
    fn typed_targets_parse_after_expansion() {
        let env = env();
        assert_eq!(expand_into::<u32>("${N}", &env).unwrap(), 42);
        assert!(expand_into::<bool>("${T}", &env).unwrap());
        assert_eq!(expand_into::<String>("${A}", &env).unwrap(), "alpha");
        assert!(expand_into::<u32>("${A}", &env).is_err());
    }
}
