//! The subset of commercetools query predicates and sort expressions the
//! emulator understands.
//!
//! Predicates: `field op value` clauses joined by `and` and `or` (`and`
//! binds tighter; parentheses group), where `op` is one
//! of `=`, `!=`, `<>`, `>`, `>=`, `<`, `<=`, `in (...)`, `not in (...)`,
//! `is defined`, `is not defined`; values are string literals (`"..."`),
//! numbers or booleans. Customer fields: `id`, `key`, `email`, `customerNumber`,
//! `externalId`, `firstName`, `lastName`, `companyName`, `version`,
//! `isEmailVerified`, `createdAt`, `lastModifiedAt`; other resource types:
//! any top-level scalar field (`...At` fields compare as date-times;
//! an object or array field never matches). Anything else is
//! rejected with the error the real API gives for a predicate it cannot
//! parse (400 `InvalidInput`), so a test never passes on a predicate the
//! emulator silently ignored.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use connect_commercetools::Customer;
use serde_json::Value;

/// The fields of customers a predicate or sort may name (the customer
/// type is typed; other resources accept any top-level field).
pub(super) const CUSTOMER_FIELDS: &[&str] = &[
    "id",
    "key",
    "email",
    "customerNumber",
    "externalId",
    "firstName",
    "lastName",
    "companyName",
    "version",
    "isEmailVerified",
    "createdAt",
    "lastModifiedAt",
];

/// A resource whose top-level scalar fields predicates and sorts read.
pub(super) trait Fields {
    /// The value of the top-level field `name`, if it is set and scalar.
    fn scalar(&self, name: &str) -> Option<Scalar<'_>>;
}

impl Fields for Customer {
    fn scalar(&self, name: &str) -> Option<Scalar<'_>> {
        match name {
            "id" => Some(Scalar::Str(&self.id)),
            "key" => self.key.as_deref().map(Scalar::Str),
            "email" => Some(Scalar::Str(&self.email)),
            "customerNumber" => self.customer_number.as_deref().map(Scalar::Str),
            "externalId" => self.external_id.as_deref().map(Scalar::Str),
            "firstName" => self.first_name.as_deref().map(Scalar::Str),
            "lastName" => self.last_name.as_deref().map(Scalar::Str),
            "companyName" => self.company_name.as_deref().map(Scalar::Str),
            "version" => Some(Scalar::Num(self.version as f64)),
            "isEmailVerified" => Some(Scalar::Bool(self.is_email_verified)),
            "createdAt" => Some(Scalar::Time(self.created_at)),
            "lastModifiedAt" => Some(Scalar::Time(self.last_modified_at)),
            _ => None,
        }
    }
}

impl Fields for Value {
    fn scalar(&self, name: &str) -> Option<Scalar<'_>> {
        match self.get(name)? {
            Value::String(text) if is_time(name) => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| Scalar::Time(t.with_timezone(&Utc))),
            Value::String(text) => Some(Scalar::Str(text)),
            Value::Number(n) => n.as_f64().map(Scalar::Num),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            _ => None,
        }
    }
}

/// Date-time fields: `createdAt`, `lastModifiedAt`, and any other `...At`.
fn is_time(name: &str) -> bool {
    name.len() > 2 && name.ends_with("At")
}

/// A field a predicate or sort expression names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field(String);

impl Field {
    /// A field name; `allowed` restricts it to a typed resource's fields.
    fn parse(name: &str, allowed: Option<&[&str]>) -> Result<Self, String> {
        match allowed {
            Some(allowed) if !allowed.contains(&name) => Err(format!(
                "the emulator does not support the field `{name}` (supported: {})",
                allowed.join(", ")
            )),
            _ => Ok(Self(name.to_owned())),
        }
    }

    fn value<'c>(&self, resource: &'c impl Fields) -> Option<Scalar<'c>> {
        resource.scalar(&self.0)
    }

    fn is_time(&self) -> bool {
        is_time(&self.0)
    }
}

/// A scalar field value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// A literal written in a predicate.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Literal {
    fn compare(&self, value: &Scalar<'_>) -> Option<Ordering> {
        match (value, self) {
            (Scalar::Str(a), Literal::Str(b)) => Some((*a).cmp(b.as_str())),
            (Scalar::Num(a), Literal::Num(b)) => a.partial_cmp(b),
            (Scalar::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
            (Scalar::Time(a), Literal::Time(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Compare(Field, Op, Literal),
    In(Field, Vec<Literal>, bool),
    Defined(Field, bool),
    /// `(a and b) or (c)`: any of the conjunctions holds.
    Any(Vec<Vec<Clause>>),
}

/// A parsed `where` predicate: clauses that must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Predicate {
    clauses: Vec<Clause>,
}

impl Predicate {
    /// Parses one `where` parameter; `allowed` restricts the fields (see
    /// [`CUSTOMER_FIELDS`]), `None` accepts any top-level field.
    pub(super) fn parse(text: &str, allowed: Option<&[&str]>) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            allowed,
        };
        let mut any = parser.disjunction()?;
        if let Some(extra) = parser.tokens.get(parser.at) {
            return Err(format!(
                "unexpected {} after a clause; join clauses with `and` or `or`",
                describe(Some(extra))
            ));
        }
        let clauses = if any.len() == 1 {
            any.remove(0)
        } else {
            vec![Clause::Any(any)]
        };
        Ok(Self { clauses })
    }

    /// `true` when `resource` satisfies every clause.
    pub(super) fn matches(&self, resource: &impl Fields) -> bool {
        self.clauses
            .iter()
            .all(|clause| clause_matches(clause, resource))
    }

    /// The strongest `id > "x"` / `id >= "x"` bound, for range scans:
    /// `(value, inclusive)`.
    pub(super) fn id_lower_bound(&self) -> Option<(&str, bool)> {
        let mut best: Option<(&str, bool)> = None;
        for clause in &self.clauses {
            if let Clause::Compare(Field(name), op @ (Op::Gt | Op::Ge), Literal::Str(value)) =
                clause
                && name == "id"
            {
                let candidate = (value.as_str(), *op == Op::Ge);
                best = match best {
                    Some(current) if current.0 > candidate.0 => Some(current),
                    Some(current) if current.0 == candidate.0 => {
                        Some((current.0, current.1 && candidate.1))
                    }
                    _ => Some(candidate),
                };
            }
        }
        best
    }
}

fn clause_matches(clause: &Clause, resource: &impl Fields) -> bool {
    match clause {
        Clause::Compare(field, op, literal) => {
            let Some(value) = field.value(resource) else {
                return false;
            };
            let Some(ordering) = literal.compare(&value) else {
                return false;
            };
            match op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Ne => ordering != Ordering::Equal,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
            }
        }
        Clause::In(field, literals, negated) => {
            let Some(value) = field.value(resource) else {
                return false;
            };
            let found = literals
                .iter()
                .any(|l| l.compare(&value) == Some(Ordering::Equal));
            found != *negated
        }
        Clause::Defined(field, defined) => field.value(resource).is_some() == *defined,
        Clause::Any(any) => any
            .iter()
            .any(|all| all.iter().all(|clause| clause_matches(clause, resource))),
    }
}

/// One `sort` parameter: a field and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sort {
    field: Field,
    descending: bool,
}

impl Sort {
    /// `id asc`, `lastModifiedAt desc`, ...; `allowed` as for [`Predicate::parse`].
    pub(super) fn parse(text: &str, allowed: Option<&[&str]>) -> Result<Self, String> {
        let mut parts = text.split_whitespace();
        let field = parts
            .next()
            .ok_or_else(|| "empty sort expression; write e.g. `id asc`".to_owned())?;
        let field = Field::parse(field, allowed)?;
        let descending = match parts.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(format!(
                    "sort direction `{other}` is invalid; use `asc` or `desc`"
                ));
            }
        };
        if parts.next().is_some() {
            return Err(format!(
                "sort expression `{text}` is invalid; write `<field> asc|desc`"
            ));
        }
        Ok(Self { field, descending })
    }

    /// `true` for `id asc` (the emulator's natural order).
    pub(super) fn is_id_ascending(&self) -> bool {
        self.field.0 == "id" && !self.descending
    }

    /// Compares two resources by this sort.
    pub(super) fn compare<R: Fields>(&self, a: &R, b: &R) -> Ordering {
        let ordering = match (self.field.value(a), self.field.value(b)) {
            (Some(x), Some(y)) => compare_scalars(&x, &y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }
}

fn compare_scalars(a: &Scalar<'_>, b: &Scalar<'_>) -> Ordering {
    match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => x.cmp(y),
        (Scalar::Num(x), Scalar::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Scalar::Bool(x), Scalar::Bool(y)) => x.cmp(y),
        (Scalar::Time(x), Scalar::Time(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Num(f64),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of predicate".to_owned(),
        Some(Token::Word(w)) => format!("`{w}`"),
        Some(Token::Str(s)) => format!("\"{s}\""),
        Some(Token::Num(n)) => format!("`{n}`"),
        Some(Token::Op(op)) => format!("operator {op:?}"),
        Some(Token::Open) => "`(`".to_owned(),
        Some(Token::Close) => "`)`".to_owned(),
        Some(Token::Comma) => "`,`".to_owned(),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".to_owned()),
                        Some('\\') => {
                            if let Some(next) = chars.get(i + 1) {
                                value.push(*next);
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', Some('>')) => (Op::Ne, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    _ => (Op::Gt, 1),
                };
                tokens.push(Token::Op(op));
                i += width;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | '-' | 'e' | 'E'))
                {
                    i += 1;
                }
                let number: String = chars[start..i].iter().collect();
                let value = number
                    .parse()
                    .map_err(|_| format!("`{number}` is not a number"))?;
                tokens.push(Token::Num(value));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    allowed: Option<&'a [&'a str]>,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// `conjunction (or conjunction)*`, up to a `)` or the end.
    fn disjunction(&mut self) -> Result<Vec<Vec<Clause>>, String> {
        let mut any = vec![self.conjunction()?];
        while self.peek_word("or") {
            self.at += 1;
            any.push(self.conjunction()?);
        }
        Ok(any)
    }

    /// `factor (and factor)*`.
    fn conjunction(&mut self) -> Result<Vec<Clause>, String> {
        let mut all = vec![self.factor()?];
        while self.peek_word("and") {
            self.at += 1;
            all.push(self.factor()?);
        }
        Ok(all)
    }

    /// `( disjunction )` or a clause.
    fn factor(&mut self) -> Result<Clause, String> {
        if !matches!(self.tokens.get(self.at), Some(Token::Open)) {
            return self.clause();
        }
        self.at += 1;
        let mut any = self.disjunction()?;
        match self.next() {
            Some(Token::Close) => {}
            other => {
                return Err(format!(
                    "expected `)` to close a group, found {}",
                    describe(other.as_ref())
                ));
            }
        }
        Ok(if any.len() == 1 && any[0].len() == 1 {
            any.remove(0).remove(0)
        } else {
            Clause::Any(any)
        })
    }

    fn clause(&mut self) -> Result<Clause, String> {
        let field = match self.next() {
            Some(Token::Word(name)) => Field::parse(&name, self.allowed)?,
            other => {
                return Err(format!(
                    "expected a field name, found {}",
                    describe(other.as_ref())
                ));
            }
        };
        if matches!(self.tokens.get(self.at), Some(Token::Open)) {
            return Err(
                "nested predicates (`field(...)`) are not supported by the emulator".to_owned(),
            );
        }
        if self.peek_word("is") {
            self.at += 1;
            let negated = self.peek_word("not");
            if negated {
                self.at += 1;
            }
            return match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("defined") => {
                    Ok(Clause::Defined(field, !negated))
                }
                other => Err(format!(
                    "expected `defined`, found {}",
                    describe(other.as_ref())
                )),
            };
        }
        let negated = self.peek_word("not");
        if negated {
            self.at += 1;
        }
        if self.peek_word("in") {
            self.at += 1;
            if self.next() != Some(Token::Open) {
                return Err("expected `(` after `in`".to_owned());
            }
            let mut values = Vec::new();
            loop {
                values.push(self.literal(&field)?);
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    other => {
                        return Err(format!(
                            "expected `,` or `)`, found {}",
                            describe(other.as_ref())
                        ));
                    }
                }
            }
            return Ok(Clause::In(field, values, negated));
        }
        if negated {
            return Err("expected `in` after `not`".to_owned());
        }
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            other => {
                return Err(format!(
                    "expected an operator (=, !=, >, >=, <, <=, in, is defined), found {}",
                    describe(other.as_ref())
                ));
            }
        };
        let literal = self.literal(&field)?;
        Ok(Clause::Compare(field, op, literal))
    }

    fn literal(&mut self, field: &Field) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Str(text)) if field.is_time() => DateTime::parse_from_rfc3339(&text)
                .map(|t| Literal::Time(t.with_timezone(&Utc)))
                .map_err(|e| format!("\"{text}\" is not a valid date-time for `{}`: {e}", field.0)),
            Some(Token::Str(text)) => Ok(Literal::Str(text)),
            Some(Token::Num(n)) => Ok(Literal::Num(n)),
            Some(Token::Word(w)) if w == "true" => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w == "false" => Ok(Literal::Bool(false)),
            other => Err(format!(
                "expected a value, found {}",
                describe(other.as_ref())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, email: &str, key: Option<&str>) -> Customer {
        let json = serde_json::json!({
            "id": id, "version": 2, "email": email, "key": key,
            "createdAt": "2024-01-01T00:00:00.000Z",
            "lastModifiedAt": "2024-02-01T00:00:00.000Z",
        });
        match serde_json::from_value(json) {
            Ok(customer) => customer,
            Err(error) => panic!("test customer: {error}"),
        }
    }

    #[test]
    fn evaluates_supported_clauses() {
        let c = customer("b", "ada@example.com", Some("k1"));
        let yes = [
            r#"id > "a""#,
            r#"id >= "b" and email = "ada@example.com""#,
            r#"key in ("k0", "k1")"#,
            r#"key is defined AND version = 2"#,
            r#"lastModifiedAt > "2024-01-15T00:00:00.000Z""#,
            r#"email != "x\"y""#,
            "isEmailVerified = false",
            r#"id = "a" or id = "b""#,
            r#"lastModifiedAt > "2024-02-01T00:00:00.000Z" or (lastModifiedAt = "2024-02-01T00:00:00.000Z" and id > "a")"#,
            r#"(id = "x" or email = "ada@example.com") and version = 2"#,
            r#"id = "x" and version = 9 or key = "k1""#,
        ];
        for text in yes {
            let predicate =
                Predicate::parse(text, Some(CUSTOMER_FIELDS)).map_err(|e| format!("{text}: {e}"));
            assert_eq!(predicate.map(|p| p.matches(&c)), Ok(true), "{text}");
        }
        let no = [
            r#"id > "b""#,
            r#"key not in ("k1")"#,
            "externalId is defined",
            r#"lastModifiedAt > "2024-02-01T00:00:00.000Z" or (lastModifiedAt = "2024-02-01T00:00:00.000Z" and id > "b")"#,
            r#"(id = "x" or email = "ada@example.com") and version = 3"#,
            r#"id = "x" and (version = 9 or key = "k1")"#,
        ];
        for text in no {
            let predicate =
                Predicate::parse(text, Some(CUSTOMER_FIELDS)).map_err(|e| format!("{text}: {e}"));
            assert_eq!(predicate.map(|p| p.matches(&c)), Ok(false), "{text}");
        }
    }

    #[test]
    fn rejects_what_it_cannot_evaluate() {
        for text in [
            r#"addresses(city = "x")"#,
            r#"(id = "a" or id = "b""#,
            r#"id = "a" or"#,
            r#"id = "a" id = "b""#,
            r#"custom(fields(x = 1))"#,
            r#"id = "unterminated"#,
            r#"lastModifiedAt > "yesterday""#,
            "",
        ] {
            assert!(
                Predicate::parse(text, Some(CUSTOMER_FIELDS)).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn evaluates_any_top_level_field_of_a_json_resource() {
        let order = serde_json::json!({
            "id": "o1", "version": 3, "orderNumber": "A-1", "orderState": "Open",
            "lastModifiedAt": "2024-02-01T00:00:00.000Z", "name": {"en": "x"},
        });
        for (text, expected) in [
            (r#"orderNumber = "A-1" and version >= 3"#, true),
            (r#"lastModifiedAt < "2024-01-15T00:00:00.000Z""#, false),
            ("externalId is not defined", true),
            (r#"name = "x""#, false),
        ] {
            let predicate = Predicate::parse(text, None).map_err(|e| format!("{text}: {e}"));
            assert_eq!(predicate.map(|p| p.matches(&order)), Ok(expected), "{text}");
        }
        assert!(Predicate::parse(r#"name(en = "x")"#, None).is_err());
    }

    #[test]
    fn finds_the_id_lower_bound() {
        let p = Predicate::parse(r#"id > "m" and id >= "c" and email = "x""#, None);
        assert_eq!(
            p.as_ref().ok().and_then(Predicate::id_lower_bound),
            Some(("m", false))
        );
    }

    #[test]
    fn sorts() {
        let a = customer("a", "z@x", None);
        let b = customer("b", "y@x", Some("k"));
        assert_eq!(
            Sort::parse("id desc", Some(CUSTOMER_FIELDS)).map(|s| s.compare(&a, &b)),
            Ok(Ordering::Greater)
        );
        assert_eq!(
            Sort::parse("email asc", Some(CUSTOMER_FIELDS)).map(|s| s.compare(&a, &b)),
            Ok(Ordering::Greater)
        );
        assert!(Sort::parse("id sideways", None).is_err());
        assert!(Sort::parse("addresses asc", Some(CUSTOMER_FIELDS)).is_err());
    }
}
