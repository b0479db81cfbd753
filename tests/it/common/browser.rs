//! A scripted browser: what a browser does with the sign-in URL, without a browser. It loads
//! the authorize page, follows a redirect, and submits an auto-submitting form as the page's
//! script would, then returns the page it ends on.

/// The page a scripted sign-in ended on.
#[derive(Debug, Clone)]
pub struct Ended {
    pub status: u16,
    pub body: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The entities a page escapes its values with.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name="…"` in one tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The first form of a page: its action and its inputs.
pub fn form_of(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let form_start = page.find("<form")?;
    let form_tag_end = page[form_start..].find('>')? + form_start;
    let action = attribute(&page[form_start..form_tag_end], "action")?;
    let form_end = page[form_start..]
        .find("</form>")
        .map_or(page.len(), |i| i + form_start);
    let mut inputs = Vec::new();
    let mut rest = &page[form_tag_end..form_end];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').map_or(rest.len(), |e| e + i);
        let tag = &rest[i..end];
        if let (Some(name), value) = (attribute(tag, "name"), attribute(tag, "value")) {
            inputs.push((name, value.unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    Some((action, inputs))
}

/// Signs in as a browser would: loads `url`, follows redirects, submits the auto-submitting
/// form, and returns the last page.
pub async fn sign_in(url: &str) -> Ended {
    let client = client();
    let mut response = client.get(url).send().await.expect("the page loads");
    for _ in 0..5 {
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            response = client
                .get(&location)
                .send()
                .await
                .expect("the redirect loads");
            continue;
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let Some((action, inputs)) = form_of(&body).filter(|_| status == 200) else {
            return Ended { status, body };
        };
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&inputs)
            .finish();
        response = client
            .post(&action)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("the form posts");
    }
    panic!("the sign-in did not end within five steps");
}

/// A [`InteractiveBrowserCredential`](entra_appreg::auth::InteractiveBrowserCredential) hook
/// that runs [`sign_in`] in the background, and where its last page goes.
pub fn hook(
    pages: std::sync::Arc<std::sync::Mutex<Vec<Ended>>>,
) -> impl Fn(&str) -> std::io::Result<()> + Send + Sync + 'static {
    move |url: &str| {
        let url = url.to_owned();
        let pages = pages.clone();
        tokio::spawn(async move {
            let ended = sign_in(&url).await;
            pages.lock().unwrap().push(ended);
        });
        Ok(())
    }
}
