//! What the console and the Support tab share in the browser: the page layout (maud
//! templates, compiled into the binary) and the static assets the binary serves. Nothing
//! here knows HTTP: the edge (`src/http/web/`) turns [`Markup`] into a response.
pub mod assets;
pub mod format;

use maud::{DOCTYPE, Markup, html};

/// The form field (and the `X-CSRF-Token` header) a state-changing request carries.
pub const CSRF_FIELD: &str = "csrf_token";

/// A link to the list page at `path` with its `filters` (empty ones left out) and, to go on
/// walking the list, the `cursor` of the next page.
pub fn list_link(path: &str, filters: &[(&'static str, &str)], cursor: Option<&str>) -> String {
    let query: Vec<(&str, &str)> = filters
        .iter()
        .copied()
        .filter(|(_, value)| !value.is_empty())
        .chain(cursor.map(|c| ("cursor", c)))
        .collect();
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    if qs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{qs}")
    }
}

/// One link of the top navigation.
pub struct NavLink<'a> {
    pub href: &'a str,
    pub label: &'a str,
    pub current: bool,
}

/// Who is signed in, and where signing out posts to.
pub struct SignedIn<'a> {
    pub name: &'a str,
    pub sign_out: &'a str,
    pub csrf_token: &'a str,
}

/// Everything around a page's main content.
pub struct Layout<'a> {
    /// The page's own title (the product name is appended).
    pub title: &'a str,
    /// `Helpline console`, `Support`, …
    pub product: &'a str,
    pub home: &'a str,
    pub nav: Vec<NavLink<'a>>,
    pub signed_in: Option<SignedIn<'a>>,
    /// Scripts under `/assets/` (served by the binary, never inline).
    pub scripts: &'a [&'a str],
    /// What `data-page` says on `<body>`: which behaviour the script attaches.
    pub page: &'a str,
}

/// A whole HTML page: landmarks (banner, navigation, main), a skip link, one stylesheet.
pub fn page(layout: &Layout<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(who) = &layout.signed_in {
                    meta name="csrf-token" content=(who.csrf_token);
                }
                title { (layout.title) " · " (layout.product) }
                link rel="stylesheet" href=(assets::STYLESHEET);
                @for script in layout.scripts {
                    script src=(script) defer {}
                }
            }
            body data-page=(layout.page) {
                a.skip-link href="#main" { "Skip to content" }
                header.topbar {
                    a.brand href=(layout.home) { (layout.product) }
                    @if !layout.nav.is_empty() {
                        nav aria-label="Main" {
                            ul {
                                @for link in &layout.nav {
                                    li {
                                        @if link.current {
                                            a href=(link.href) aria-current="page" { (link.label) }
                                        } @else {
                                            a href=(link.href) { (link.label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(who) = &layout.signed_in {
                        form.sign-out method="post" action=(who.sign_out) {
                            (csrf_field(who.csrf_token))
                            span.who { "Signed in as " strong { (who.name) } }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// The hidden synchronizer-token field every state-changing form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// A notice at the top of a page: `kind` is `info`, `success`, `warning` or `error` and is
/// spelled out in words too (colour is never the only signal).
pub fn notice(kind: NoticeKind, message: &str) -> Markup {
    html! {
        div class={ "notice notice-" (kind.class()) } role=(kind.role()) {
            strong { (kind.label()) ": " } (message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Success,
    Warning,
    Error,
}

impl NoticeKind {
    fn class(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Info => "Note",
            Self::Success => "Done",
            Self::Warning => "Warning",
            Self::Error => "Error",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Self::Warning | Self::Error => "alert",
            Self::Info | Self::Success => "status",
        }
    }
}

/// A page that only says why something was refused (no navigation).
pub fn refusal(product: &str, home: &str, title: &str, message: &str) -> Markup {
    let layout = Layout {
        title,
        product,
        home,
        nav: Vec::new(),
        signed_in: None,
        scripts: &[],
        page: "refusal",
    };
    page(
        &layout,
        html! {
            h1 { (title) }
            (notice(NoticeKind::Error, message))
            p { a href=(home) { "Back to the start" } }
        },
    )
}

/// How a ticket category reads on a page (`api_sdk` is an acronym, not words).
pub fn category_label(category: &str) -> String {
    match category.parse::<crate::domain::ticket::Category>() {
        Ok(crate::domain::ticket::Category::ApiSdk) => "API / SDK".to_string(),
        _ => humanize(category),
    }
}

/// `in_progress` → `In progress`: an enum value as words.
pub fn humanize(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// A ticket status as a coloured badge that also says it in words.
pub fn status_badge(status: &str) -> Markup {
    html! { span class={ "badge status-" (status) } { (humanize(status)) } }
}

/// A priority as a coloured badge that also says it in words.
pub fn priority_badge(priority: &str) -> Markup {
    html! { span class={ "badge priority-" (priority) } { (humanize(priority)) } }
}

/// A labelled `<select>`; `current` is the selected value.
pub fn select(
    id: &str,
    name: &str,
    label: &str,
    current: &str,
    options: &[(String, String)],
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[current == value] { (text) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_links_keep_given_filters_and_the_cursor() {
        assert_eq!(
            list_link("/portal", &[("status", ""), ("q", "")], None),
            "/portal"
        );
        assert_eq!(
            list_link("/console", &[("status", "open"), ("tag", "")], Some("abc")),
            "/console?status=open&cursor=abc"
        );
        assert_eq!(
            list_link("/portal", &[("q", "a b&c")], None),
            "/portal?q=a+b%26c"
        );
    }
}
