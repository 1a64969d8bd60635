//! The check behind cursor paging: every page of a scan ascends by its
//! key (the id, or `lastModifiedAt` then id).

/// The first id of `ids` (one page, in the order commercetools returned
/// it) that does not come strictly after the one before it, the first one
/// compared with `previous` (the last id of the page before, or the scan's
/// `after`): `Some((before, seen))`, or `None` when the page ascends.
pub(super) fn first_out_of_order<'a, K: Ord + ?Sized>(
    previous: Option<&'a K>,
    ids: impl IntoIterator<Item = &'a K>,
) -> Option<(&'a K, &'a K)> {
    let mut before = previous;
    for id in ids {
        if let Some(last) = before
            && id <= last
        {
            return Some((last, id));
        }
        before = Some(id);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_out_of_order;

    #[test]
    fn an_ascending_page_after_the_cursor_passes() {
        assert_eq!(first_out_of_order(None, ["a", "b", "c"]), None);
        assert_eq!(first_out_of_order(Some("a"), ["b", "c"]), None);
        assert_eq!(first_out_of_order::<str>(Some("a"), []), None);
        assert_eq!(first_out_of_order::<str>(None, []), None);
    }

    #[test]
    fn a_page_that_does_not_ascend_is_named_by_its_first_offending_pair() {
        assert_eq!(
            first_out_of_order(None, ["a", "c", "b", "d"]),
            Some(("c", "b"))
        );
        // Descending.
        assert_eq!(first_out_of_order(None, ["c", "b", "a"]), Some(("c", "b")));
        // A repeated id is not strictly ascending.
        assert_eq!(first_out_of_order(None, ["a", "a"]), Some(("a", "a")));
    }

    #[test]
    fn a_page_must_start_after_the_previous_pages_last_id() {
        assert_eq!(first_out_of_order(Some("m"), ["k", "n"]), Some(("m", "k")));
        assert_eq!(first_out_of_order(Some("m"), ["m", "n"]), Some(("m", "m")));
    }
}
