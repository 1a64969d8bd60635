#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The linker pitfall: this test binary depends on `linked-handlers` (a
//! dev-dependency of the package) but never names it, so its `#[handler]`
//! registrations are dropped. Startup then fails with the linking hint.

use connect_core::config::ConfigDocument;
use connect_core::{HandlerRegistry, Router, Services};

#[test]
fn registrations_of_a_crate_the_binary_never_names_are_missing_and_the_error_says_why() {
    let registry = HandlerRegistry::linked();
    assert!(
        !registry.contains("LinkedHandler"),
        "the linker kept an unreferenced crate; the documented pitfall no longer applies"
    );
    let config = ConfigDocument::from_yaml(
        "test.yml",
        "connector-name: unlinked\nroutes:\n  - route: r\n    handler: LinkedHandler\n",
    )
    .connector()
    .unwrap();
    let error = Router::build(&config, &registry, &Services::new()).unwrap_err();
    assert!(
        error.to_string().contains("use that_crate as _;"),
        "{error}"
    );
}
