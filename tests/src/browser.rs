//! A real browser for the board's tests: Debian's Chromium, headless, driven
//! over WebDriver by Debian's chromedriver (package chromium-driver, the same
//! version as the browser) through fantoccini; and what a person does in it
//! (sign in with the mailed link, click, read a field, take a picture).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::{World, free_port};

/// A Chrome DevTools Protocol command, sent through chromedriver's
/// `goog/cdp/execute` (what WebDriver itself cannot ask, e.g. print media).
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// How long a step in the browser may take.
const STEP: Duration = Duration::from_secs(30);

/// The CSS selector of one cell (`place`, `note`, ...) of a person's row on the board.
pub fn cell(account: &str, name: &str) -> String {
    format!("tr[data-account=\"{account}\"] td.{name}")
}

pub struct Browser {
    pub client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process, stopped when dropped: also when starting the
/// session fails or panics, so that no driver outlives its test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("driver", &self.driver.0.id())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// A fresh headless Chromium whose first language is `lang` (`ja`, `en`).
    pub async fn start(lang: &str) -> Self {
        // Installed once per process; a second call only says it was there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Driver(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver runs (Debian package chromium-driver)"),
        );
        let profile = tempfile::tempdir().expect("tempdir");
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,860", format!("--lang={lang}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "intl.accept_languages": lang },
            },
        });
        let capabilities = capabilities.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            let mut builder = ClientBuilder::rustls().expect("rustls connector");
            match builder
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session with Chromium: {last_error}");
    }

    /// The text of the first element matching `css`, or "" when there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the element `css` holds `wanted`; false after `timeout`.
    pub async fn wait_for_text(&self, css: &str, wanted: &str, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < until {
            if self.text(css).await.contains(wanted) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Renders the page for `media` (`print`, `screen`) as Chromium's print
    /// preview does, through chromedriver's DevTools passage.
    pub async fn emulate_media(&self, media: &str) {
        self.client
            .issue_cmd(DevTools {
                command: "Emulation.setEmulatedMedia",
                params: serde_json::json!({ "media": media }),
            })
            .await
            .expect("Chromium emulates the media");
    }

    /// Runs a script in the page and returns its value.
    pub async fn run(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    /// Signs `account` in as a person would: the address on the sign-in
    /// page, the link from the mail in their mailbox, the button behind the
    /// link; then waits for the board to show `heading`.
    pub async fn sign_in(&self, world: &World, account: &str, heading: &str) {
        let client = &self.client;
        client
            .goto(&format!("{}/login", world.web_url()))
            .await
            .unwrap();
        let address = client.find(Locator::Css("#address")).await.unwrap();
        address.send_keys(&world.mail_of(account)).await.unwrap();
        self.click("form button").await;
        assert!(
            self.wait_for_text("main", "メールを確認", STEP).await,
            "{}",
            self.text("body").await
        );
        let mut mailbox = world.mailbox(&world.mail_of(account)).await;
        let mails = mailbox.wait_for(1, STEP).await;
        let link = mails
            .iter()
            .rev()
            .find_map(|raw| {
                let mail = mail_parser::MessageParser::default().parse(raw)?;
                let text = mail.body_text(0)?.into_owned();
                let start = text.find("http://")?;
                Some(
                    text[start..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>(),
                )
            })
            .expect("a sign-in mail with a link");
        assert!(link.starts_with(&world.web_url()), "{link}");
        client.goto(&link).await.unwrap();
        self.click("form button").await;
        assert!(
            self.wait_for_text("#board", heading, STEP).await,
            "the board after signing in: {}",
            self.text("body").await
        );
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The value of the form field `id`.
    pub async fn value(&self, id: &str) -> String {
        self.run(&format!("return document.getElementById('{id}').value"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// With MAILPRESENCE_SCREENSHOTS=DIR, the page as `DIR/name` (PNG).
    pub async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("MAILPRESENCE_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
        }
    }

    /// Ends the WebDriver session (the browser quits); the driver stops on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
