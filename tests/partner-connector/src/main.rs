//! The partner's `connect` binary: the whole command, its sync linked, and
//! `partner-connect locations --config FILE`, which prints the Fluent
//! locations the connector manages.
#![allow(clippy::print_stdout)]

use connect_sdk::cli::clap::{self, Subcommand};
use connect_sdk::cli::{App, ConfigArg, Context, EXIT_OK};
use connect_sdk::fluent::FluentClient;
use connect_sdk::runner::RunnerError;
use partner_connector::ID_ATTRIBUTE;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
enum PartnerCommand {
    /// Print the Fluent locations synced from commercetools channels: ref, type, name.
    Locations {
        #[command(flatten)]
        config: ConfigArg,
    },
}

const LOCATIONS: &str = "query Locations($after: String) { locations(first: 100, after: $after) { edges { cursor node { ref type name attributes { name value } } } pageInfo { hasNextPage } } }";

async fn locations(config: ConfigArg, ctx: Context) -> Result<u8, RunnerError> {
    let plan = ctx.plan(&config)?;
    let fluent = plan
        .services()
        .get::<FluentClient>()
        .ok_or_else(|| RunnerError::Backend {
            origin: plan.document().origin().to_owned(),
            message: "`locations` needs the `fluent` block".to_owned(),
        })?;
    let (mut after, mut count) = (Value::Null, 0);
    loop {
        let data = fluent
            .graphql_value(LOCATIONS, &json!({ "after": after }))
            .await?;
        let page = &data["locations"];
        for edge in page["edges"].as_array().into_iter().flatten() {
            let node = &edge["node"];
            let managed = node["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["name"] == ID_ATTRIBUTE);
            if managed {
                count += 1;
                println!(
                    "{}\t{}\t{}",
                    node["ref"].as_str().unwrap_or(""),
                    node["type"].as_str().unwrap_or(""),
                    node["name"].as_str().unwrap_or("")
                );
            }
            after = edge["cursor"].clone();
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
    }
    println!("{count} locations");
    Ok(EXIT_OK)
}

fn main() -> std::process::ExitCode {
    App::new()
        .subcommand::<PartnerCommand, _, _>(|command, ctx| match command {
            PartnerCommand::Locations { config } => locations(config, ctx),
        })
        .main()
}
