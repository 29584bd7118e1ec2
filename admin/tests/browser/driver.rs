//! A real headless Chromium, driven through Debian's chromedriver started on a free port of
//! 127.0.0.1 for one test, and what the tests ask of the page.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chronicle_tests::wait::{eventually, DEADLINE};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session and the chromedriver behind it, killed when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; fails the test, saying what to
    /// install, when either is missing.
    pub async fn start() -> Self {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: the admin page's browser tests drive a real headless Chromium. \
                 Install it with `apt-get install -y chromium chromium-driver` ({package}); \
                 `.ci/run` does when it is missing"
            );
        }
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited at once: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,860", "--hide-scrollbars"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Self { client, driver }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The text of the first element `css` finds on the page as it is, if any.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    /// The text of `css`, once the page shows one (waiting for it with the deadline).
    pub async fn wait_text(&self, css: &str) -> String {
        eventually(&format!("an element `{css}`"), DEADLINE, || self.text(css)).await
    }

    /// Reloads the page until `css`'s text satisfies `done`, and returns it.
    pub async fn reload_until(&self, what: &str, css: &str, done: impl Fn(&str) -> bool) -> String {
        eventually(what, DEADLINE, || async {
            let text = self.text(css).await.filter(|text| done(text));
            if text.is_none() {
                let _ = self.client.refresh().await;
            }
            text
        })
        .await
    }

    /// Reloads the page until it shows `count` elements `css`.
    pub async fn reload_until_count(&self, css: &str, count: usize) {
        eventually(&format!("{count} elements `{css}`"), DEADLINE, || async {
            let found = (self.count(css).await == count).then_some(());
            if found.is_none() {
                let _ = self.client.refresh().await;
            }
            found
        })
        .await
    }

    /// The first element `css` finds, once the page shows one.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find `{css}`: {e}"))
    }

    /// Clicks the first element `css` finds.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Clicks the first element `css` finds, a button that submits a form, and waits until the
    /// page its answer leads to has replaced this one. Reloading before then would cancel the
    /// submission (the action would never reach the server).
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__chronicle_before_submit = true; return null;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        eventually(&format!("the answer to `{css}`"), DEADLINE, || async {
            let still_here = self
                .client
                .execute("return window.__chronicle_before_submit === true;", vec![])
                .await
                .ok()?;
            (still_here == serde_json::Value::Bool(false)).then_some(())
        })
        .await;
    }

    /// Types `text` into the first element `css` finds.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// The elements `css` finds on the page as it is.
    pub async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_default()
    }

    /// How many elements `css` finds on the page as it is.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
