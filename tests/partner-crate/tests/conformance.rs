//! The handler of src/lib.rs through the conformance kit's storm: faults,
//! restarts and redeliveries, then the six checks.
use connect_sdk::fluent::AttributeInput;
use connect_sdk::testkit::conformance::{Conformance, expect};
use partner_crate as _; // links FluentCustomerUpsert

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loyalty_handler_conforms() {
    // What Fluent must hold: the bundled mapping plus the loyalty tier.
    let customers = expect::customers().extend(|customer, draft| {
        let tier = customer.custom_field("loyaltyTier").and_then(|v| v.as_str()).unwrap_or("none");
        draft.set_attribute(AttributeInput::string("loyalty.tier", tier));
    });
    let run = Conformance::new(include_str!("conformance.yml")).expect(customers).seeds([7]).ops(150);
    match run.run().await {
        Ok(reports) => println!("{}", reports[0]),
        Err(failure) => panic!("{failure}"),
    }
}
