//! "Did you mean ...?": the nearest allowed value to a mistyped one.

/// The number of single-character insertions, deletions, substitutions and
/// swaps of two neighbours that turn `a` into `b` (optimal string alignment
/// distance), counted in characters.
///
/// ```
/// use connect_core::config::edit_distance;
///
/// assert_eq!(edit_distance("custmer", "customer"), 1);
/// assert_eq!(edit_distance("ResourceCraeted", "ResourceCreated"), 1);
/// assert_eq!(edit_distance("", "abc"), 3);
/// ```
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic programme: two back, one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a likely
/// typo: at most a third of the word's length away (and at least 2 edits
/// are always tolerated), or equal when case, `-` and `_` are ignored.
///
/// ```
/// use connect_core::config::nearest;
///
/// let routes = ["customer", "order", "product"];
/// assert_eq!(nearest("custmer", routes), Some("customer"));
/// assert_eq!(nearest("Customer", routes), Some("customer"));
/// assert_eq!(nearest("inventory", routes), None);
/// ```
pub fn nearest<'c, I>(word: &str, candidates: I) -> Option<&'c str>
where
    I: IntoIterator<Item = &'c str>,
{
    let folded = fold(word);
    let tolerance = (word.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'c str)> = None;
    for candidate in candidates {
        let distance = if fold(candidate) == folded {
            0
        } else {
            edit_distance(word, candidate)
        };
        if distance <= tolerance && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `; did you mean `x`?` when a candidate is near `word`, else nothing.
pub fn did_you_mean<'c, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'c str>,
{
    nearest(word, candidates).map_or_else(String::new, |n| format!("; did you mean `{n}`?"))
}

/// Refuses the first of `names` that is not in `known`: the message names
/// it, the nearest known name (or, for a name near the first of a pair of
/// `hints`, that pair's hint instead), and every known name, read by
/// `reader` (e.g. `customer sync`). For the props of a handler.
///
/// ```
/// use connect_core::config::check_names;
///
/// let known = ["catalogue-ref", "locale"];
/// assert!(check_names(["locale"], &known, "category sync", &[]).is_ok());
/// assert_eq!(
///     check_names(["catalog-ref"], &known, "category sync", &[]).unwrap_err(),
///     "unknown prop `catalog-ref`; did you mean `catalogue-ref`? category sync reads: `catalogue-ref`, `locale`"
/// );
/// ```
pub fn check_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    known: &[&str],
    reader: &str,
    hints: &[(&str, &str)],
) -> Result<(), String> {
    let Some(name) = names.into_iter().find(|name| !known.contains(name)) else {
        return Ok(());
    };
    let hint = hints
        .iter()
        .find(|(near, _)| nearest(name, [*near]).is_some())
        .map(|(_, hint)| format!("{hint} "))
        .or_else(|| nearest(name, known.iter().copied()).map(|n| format!("did you mean `{n}`? ")))
        .unwrap_or_default();
    let listed: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    Err(format!(
        "unknown prop `{name}`; {hint}{reader} reads: {}",
        listed.join(", ")
    ))
}

fn fold(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        for (a, b, d) in [
            ("", "", 0),
            ("abc", "abc", 0),
            ("abc", "abd", 1),
            ("abc", "ab", 1),
            ("ab", "ba", 1),
            ("kitten", "sitting", 3),
            ("ResourceExploded", "ResourceDeleted", 5),
            ("é", "e", 1),
        ] {
            assert_eq!(edit_distance(a, b), d, "{a} -> {b}");
            assert_eq!(edit_distance(b, a), d, "{b} -> {a}");
        }
    }

    #[test]
    fn suggestions_are_close_or_none() {
        let filter = ["ResourceCreated", "ResourceUpdated", "ResourceDeleted"];
        assert_eq!(nearest("ResourceUpdate", filter), Some("ResourceUpdated"));
        assert_eq!(nearest("resource-created", filter), Some("ResourceCreated"));
        assert_eq!(nearest("Something", filter), None);
        assert_eq!(did_you_mean("x", filter), "");
    }
}
