//! The README's handler example is the source of `tests/partner-crate`,
//! which `scripts/test.sh` builds as a partner would: they must not drift.

const README: &str = include_str!("../README.md");
const PARTNER_CRATE: &str = include_str!("partner-crate/src/lib.rs");

/// The first `rust` block after the "Write your own handler" heading.
fn readme_handler_example() -> Option<&'static str> {
    let section = &README[README.find("## Write your own handler")?..];
    let start = section.find("```rust\n")? + "```rust\n".len();
    let end = start + section[start..].find("```\n")?;
    Some(&section[start..end])
}

#[test]
fn the_readme_handler_example_is_the_partner_crate_word_for_word() {
    let example = readme_handler_example();
    assert!(
        example.is_some(),
        "README.md has no rust block under \"## Write your own handler\""
    );
    assert!(
        example == Some(PARTNER_CRATE),
        "the README's handler example and tests/partner-crate/src/lib.rs differ; copy one onto the other"
    );
}

#[test]
fn the_readme_handler_example_needs_at_most_two_use_lines() {
    let uses = PARTNER_CRATE
        .lines()
        .filter(|l| l.starts_with("use "))
        .count();
    assert!(uses <= 2, "{uses} `use` lines");
}
