use connect_sdk::prelude::*;
use connect_sdk::{customer_sync::CustomerSync, fluent::AttributeInput};

/// The bundled customer sync (`CommercetoolsCustomerUpsert`), plus a loyalty attribute.
#[derive(Debug)]
#[handler(name = "FluentCustomerUpsert")]
struct FluentCustomerUpsert { sync: CustomerSync }

impl FromRoute for FluentCustomerUpsert {
    fn from_route(setup: &HandlerSetup<'_>) -> Result<Self, SetupError> {
        Ok(Self { sync: CustomerSync::from_setup(setup)? }) // props + clients, checked at startup
    }
}

#[async_trait]
impl MessageHandler for FluentCustomerUpsert {
    async fn handle(&self, _: &HandlerContext<'_>, message: &Message) -> Result<Outcome, HandlerError> {
        self.sync.handle_with(message, |customer, draft| {
            let tier = customer.custom_field("loyaltyTier").and_then(|v| v.as_str()).unwrap_or("none");
            draft.set_attribute(AttributeInput::string("loyalty.tier", tier));
        }).await
    }

    // As the bundled handler: it reads the current customer, so a burst of
    // queued messages for one customer is handled once.
    fn coalesce(&self) -> bool {
        true
    }
}
