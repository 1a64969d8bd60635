//! [`Sandbox`]: both emulators at once, described as the environment
//! variables a connector's configuration file reads.

use std::collections::BTreeMap;

use crate::commercetools::CommercetoolsEmulator;
use crate::fluent::FluentEmulator;

/// A local commercetools and a local Fluent OMS, started together.
///
/// [`env`](Sandbox::env) returns the variables that
/// `examples/application-connector.yml` reads (`CT_PROJECT_KEY`,
/// `CT_CLIENT_ID`, `CT_CLIENT_SECRET`, `CT_AUTH_URL`, `CT_API_URL`,
/// `FLUENT_BASE_URL`, `FLUENT_ACCOUNT`, `FLUENT_RETAILER_ID`,
/// `FLUENT_CLIENT_ID`, `FLUENT_CLIENT_SECRET`, `FLUENT_USERNAME`,
/// `FLUENT_PASSWORD`), plus `FLUENT_CATALOGUE`, the product catalogue
/// categories go to (the Fluent emulator's default one), so the same file
/// drives a local run and a real one. Emulators built with their own
/// builders (partner resource types, schema extensions) make a sandbox
/// too: `Sandbox { commercetools, fluent }`.
///
/// ```
/// use connect_core::config::ConfigDocument;
/// use connect_testkit::Sandbox;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let sandbox = Sandbox::start().await.unwrap();
/// let yaml = "connector-name: demo\ncommercetools:\n  project-key: ${CT_PROJECT_KEY}\nroutes:\n  - route: r\n    handler: H\n";
/// let doc = ConfigDocument::from_yaml("demo.yml", yaml).with_env(sandbox.env());
/// assert!(doc.connector().is_ok());
/// assert_eq!(sandbox.env()["FLUENT_CATALOGUE"], "DEFAULT:1");
/// # });
/// ```
#[derive(Debug)]
pub struct Sandbox {
    /// The commercetools emulator.
    pub commercetools: CommercetoolsEmulator,
    /// The Fluent emulator.
    pub fluent: FluentEmulator,
}

impl Sandbox {
    /// Starts both emulators on loopback.
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self {
            commercetools: CommercetoolsEmulator::start().await?,
            fluent: FluentEmulator::start().await?,
        })
    }

    /// The environment a configuration file needs to reach both emulators.
    pub fn env(&self) -> BTreeMap<String, String> {
        let ct = self.commercetools.config();
        let fluent = self.fluent.config();
        [
            ("CT_PROJECT_KEY", ct.project_key),
            ("CT_CLIENT_ID", ct.client_id),
            ("CT_CLIENT_SECRET", ct.client_secret.expose().to_owned()),
            ("CT_AUTH_URL", ct.auth_url),
            ("CT_API_URL", ct.api_url),
            ("FLUENT_BASE_URL", fluent.base_url),
            ("FLUENT_ACCOUNT", fluent.account),
            ("FLUENT_RETAILER_ID", fluent.retailer_id),
            ("FLUENT_CLIENT_ID", fluent.client_id),
            (
                "FLUENT_CLIENT_SECRET",
                fluent.client_secret.expose().to_owned(),
            ),
            ("FLUENT_USERNAME", fluent.username),
            ("FLUENT_PASSWORD", fluent.password.expose().to_owned()),
            ("FLUENT_CATALOGUE", self.fluent.default_catalogue()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}
