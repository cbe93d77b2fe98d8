//! The browser edge shared by the console and the Support tab: HTML answers with their
//! security headers, the session cookie, the CSRF check, and errors as readable pages.
//! Pages themselves are built by the features (`src/console/views.rs`, …) as maud markup.
pub mod assets;
pub mod console;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue, InvalidHeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use maud::Markup;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::sessions::{self, Session};
use crate::ui::CSRF_FIELD;

/// The header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who may frame a page: nobody (the console), or the listed origins (a tenant's own
/// console embedding the Support tab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameAncestors {
    None,
    Origins(Vec<String>),
}

impl FrameAncestors {
    fn directive(&self) -> String {
        match self {
            Self::None => "frame-ancestors 'none'".to_string(),
            Self::Origins(origins) if origins.is_empty() => "frame-ancestors 'none'".to_string(),
            Self::Origins(origins) => format!("frame-ancestors {}", origins.join(" ")),
        }
    }

    fn denies_all(&self) -> bool {
        match self {
            Self::None => true,
            Self::Origins(origins) => origins.is_empty(),
        }
    }
}

/// The Content-Security-Policy of every page: only our own script, style and connections.
pub fn content_security_policy(frame: &FrameAncestors) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; {}",
        frame.directive()
    )
}

/// Adds the headers every HTML page carries.
pub fn security_headers<'b>(
    builder: &'b mut HttpResponseBuilder,
    frame: &FrameAncestors,
) -> &'b mut HttpResponseBuilder {
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(frame),
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if frame.denies_all() {
        builder.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    builder
}

/// An HTML page with the security headers.
pub fn page(status: StatusCode, markup: Markup, frame: &FrameAncestors) -> HttpResponse {
    security_headers(&mut HttpResponse::build(status), frame)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// `303 See Other` to `location` (after a form post, or to the sign-in page).
pub fn see_other(location: &str) -> HttpResponse {
    security_headers(&mut HttpResponse::SeeOther(), &FrameAncestors::None)
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Whether the request reached us over TLS: this server's own, or a trusted proxy's that
/// says so in `X-Forwarded-Proto` or `Forwarded: proto=` (ignored from anyone else).
pub fn came_over_tls(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let from_trusted = req
        .peer_addr()
        .is_some_and(|peer| trusted_proxies.contains(&peer.ip()));
    from_trusted && forwarded_https(req.headers())
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    // The nearest proxy's word is the last one.
    let last = |name: &str, split: char| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.rsplit(split)
                    .next()
                    .map(|s| s.trim().to_ascii_lowercase())
            })
    };
    if let Some(proto) = last("x-forwarded-proto", ',') {
        return proto == "https";
    }
    last("forwarded", ',').is_some_and(|hop| {
        hop.split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(k, v)| k == "proto" && v.trim_matches('"') == "https")
    })
}

/// How a web edge sends its cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookiePolicy {
    /// The console, never framed: `SameSite=Strict`, `Secure` over TLS.
    Strict,
    /// The Support tab, framed on tenants' own consoles. Over TLS `SameSite=None; Secure;
    /// Partitioned`, so the tab works inside an iframe (a partitioned cookie stays with
    /// that embedding site) and the CSRF token on every form is what stops cross-site posts.
    /// Over plain HTTP (development) browsers refuse `SameSite=None`, so `Lax`, which still
    /// survives the redirect from a link opened on another site (`Strict` would not).
    Embeddable,
}

/// A cookie of a browser session: `HttpOnly`, on `path`, sent as `policy` says. With no
/// `Max-Age` it ends with the browser; the server ends the session after the idle timeout
/// anyway.
#[derive(Debug, Clone, Copy)]
pub struct SessionCookie {
    pub name: &'static str,
    pub path: &'static str,
    pub policy: CookiePolicy,
}

impl SessionCookie {
    fn line(&self, value: String, secure: bool, expired: bool) -> String {
        let mut cookie = Cookie::build(self.name, value)
            .http_only(true)
            .path(self.path)
            .finish();
        match (self.policy, secure) {
            (CookiePolicy::Strict, _) => {
                cookie.set_same_site(SameSite::Strict);
                cookie.set_secure(secure);
            }
            (CookiePolicy::Embeddable, true) => {
                cookie.set_same_site(SameSite::None);
                cookie.set_secure(true);
            }
            (CookiePolicy::Embeddable, false) => cookie.set_same_site(SameSite::Lax),
        }
        if expired {
            cookie.set_max_age(CookieAge::ZERO);
        }
        // The cookie crate of actix-web does not know `Partitioned` (CHIPS) yet.
        if self.policy == CookiePolicy::Embeddable && secure {
            format!("{cookie}; Partitioned")
        } else {
            cookie.to_string()
        }
    }

    fn append(&self, res: &mut HttpResponse, line: &str) -> Result<(), InvalidHeaderValue> {
        let value = HeaderValue::from_str(line)?;
        res.headers_mut().append(header::SET_COOKIE, value);
        Ok(())
    }

    /// Sets the cookie to `value` on `res`.
    pub fn set(
        &self,
        res: &mut HttpResponse,
        value: String,
        secure: bool,
    ) -> Result<(), InvalidHeaderValue> {
        self.append(res, &self.line(value, secure, false))
    }

    /// Deletes the cookie in the browser.
    pub fn clear(&self, res: &mut HttpResponse, secure: bool) -> Result<(), InvalidHeaderValue> {
        self.append(res, &self.line(String::new(), secure, true))
    }
}

/// The answer that signs a browser in: `303` to `location`, carrying the new session's
/// token in `cookie`.
pub fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    cookie: &SessionCookie,
    token: String,
    location: &str,
) -> WebResult<HttpResponse> {
    let secure = came_over_tls(req, &state.config.trusted_proxies);
    let mut res = see_other(location);
    cookie
        .set(&mut res, token, secure)
        .map_err(|e| WebError::internal(req, e))?;
    Ok(res)
}

/// Signs a browser out: ends `session` and deletes `cookies` in the browser on `res`.
pub async fn sign_out(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    cookies: &[SessionCookie],
    mut res: HttpResponse,
) -> WebResult<HttpResponse> {
    sessions::revoke(&state.db, session.id)
        .await
        .map_err(|e| WebError::internal(req, e))?;
    let secure = came_over_tls(req, &state.config.trusted_proxies);
    for cookie in cookies {
        cookie
            .clear(&mut res, secure)
            .map_err(|e| WebError::internal(req, e))?;
    }
    Ok(res)
}

/// Someone signed in at a web edge: an operator in the console, a visitor of a tenant's
/// Support tab.
pub trait SignedIn {
    fn session(&self) -> &Session;
}

/// Who sent a state-changing request, and its form: the form is read first (an unreadable
/// one is refused before anything else), then `who` finds the sender, whose session's CSRF
/// token the form (or the `X-CSRF-Token` header) must carry.
pub async fn posting<T: SignedIn>(
    req: &HttpRequest,
    body: &[u8],
    who: impl Future<Output = WebResult<T>>,
) -> WebResult<(T, Form)> {
    let form = Form::read(req, body)?;
    let sender = who.await?;
    check_csrf(req, sender.session(), Some(&form))?;
    Ok((sender, form))
}

/// Turns an API refusal into the browser's answer for `req`.
pub fn api(req: &HttpRequest) -> impl Fn(ApiError) -> WebError + '_ {
    move |e| WebError::from_api(req, e)
}

/// The session behind the request's cookie `name`, renewed; `None` when there is none or
/// it is over.
pub async fn current_session(
    req: &HttpRequest,
    state: &AppState,
    name: &str,
) -> Result<Option<Session>, WebError> {
    let Some(cookie) = req.cookie(name) else {
        return Ok(None);
    };
    let found = sessions::authenticate(
        &state.db,
        cookie.value(),
        state.config.session_idle,
        chrono::Utc::now(),
    )
    .await
    .map_err(|e| WebError::internal(req, e))?;
    Ok(found)
}

/// A submitted form's fields; a repeated field keeps every value in order.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .ok()
            .map(Self)
    }

    /// A posted form, or the readable `400 invalid_form` refusal.
    pub fn read(req: &HttpRequest, body: &[u8]) -> WebResult<Self> {
        Self::parse(body).ok_or_else(|| {
            WebError::new(
                req,
                StatusCode::BAD_REQUEST,
                "invalid_form",
                "The form could not be read.",
            )
        })
    }

    /// The last non-empty value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn to_map(&self) -> HashMap<&str, &str> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Refuses a state-changing request whose synchronizer token (the form field, or the
/// `X-CSRF-Token` header a script sends) is missing or not this session's.
pub fn check_csrf(
    req: &HttpRequest,
    session: &Session,
    form: Option<&Form>,
) -> Result<(), WebError> {
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| form.and_then(|f| f.get(CSRF_FIELD)));
    match sent {
        Some(token) if session.csrf_matches(token) => Ok(()),
        Some(_) => Err(WebError::new(
            req,
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "This form is out of date or was not sent by this page (its security token does not match). Reload the page and try again.",
        )),
        None => Err(WebError::new(
            req,
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "This request carries no security token. Send it from the page's own form.",
        )),
    }
}

/// A form posted from another site is refused even before a session exists, so nobody can
/// sign a browser into their own account. Browsers say where a request came from in
/// `Sec-Fetch-Site`; older ones only in `Origin` (which is `null` under our
/// `Referrer-Policy: no-referrer`, so `null` proves nothing either way).
pub fn check_same_origin(req: &HttpRequest) -> Result<(), WebError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let same = match header("sec-fetch-site") {
        Some(site) => site == "same-origin" || site == "none",
        None => match header("origin") {
            None | Some("null") => true,
            Some(origin) => {
                let host = req.connection_info().host().to_string();
                url::Url::parse(origin).ok().is_some_and(|u| {
                    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                    u.host_str().is_some_and(|h| format!("{h}{port}") == host)
                })
            }
        },
    };
    if same {
        Ok(())
    } else {
        Err(WebError::new(
            req,
            StatusCode::FORBIDDEN,
            "cross_origin",
            "This form was sent from another site and was refused.",
        ))
    }
}

/// Whether the caller is a script that wants JSON back rather than a page.
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A refusal on the browser side: a readable page, or the usual JSON error for a script.
#[derive(Debug)]
pub struct WebError {
    pub api: Box<ApiError>,
    json: bool,
    /// Where a browser without a session is sent instead.
    sign_in: Option<String>,
}

impl WebError {
    pub fn new(
        req: &HttpRequest,
        status: StatusCode,
        code: &'static str,
        message: &'static str,
    ) -> Self {
        Self::from_api(req, ApiError::new(status, code, message))
    }

    pub fn from_api(req: &HttpRequest, api: ApiError) -> Self {
        Self {
            api: Box::new(api),
            json: wants_json(req),
            sign_in: None,
        }
    }

    pub fn internal(req: &HttpRequest, cause: impl std::fmt::Display) -> Self {
        Self::from_api(req, ApiError::internal(cause))
    }

    /// No session: a page goes to `sign_in`, a script gets `401`.
    pub fn signed_out(req: &HttpRequest, sign_in: &str) -> Self {
        let mut err = Self::from_api(
            req,
            ApiError::unauthorized("Your session has ended; sign in again"),
        );
        err.sign_in = (!err.json).then(|| sign_in.to_string());
        err
    }
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.api.message)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.api.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let Some(to) = &self.sign_in {
            return see_other(to);
        }
        if self.json {
            return self.api.error_response();
        }
        let title = self
            .api
            .status
            .canonical_reason()
            .unwrap_or("Something went wrong");
        let markup = crate::ui::refusal("Helpline", "/", title, &self.api.message);
        page(self.api.status, markup, &FrameAncestors::None)
    }
}

pub type WebResult<T> = Result<T, WebError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_relax_only_when_origins_are_named() {
        let none = content_security_policy(&FrameAncestors::None);
        assert!(none.ends_with("frame-ancestors 'none'"), "{none}");
        let framed = FrameAncestors::Origins(vec!["https://acme.example".into()]);
        let csp = content_security_policy(&framed);
        assert!(
            csp.ends_with("frame-ancestors https://acme.example"),
            "{csp}"
        );
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self'"),
            "{csp}"
        );
        let res = page(StatusCode::OK, maud::html! { p { "x" } }, &framed);
        assert!(res.headers().get(header::X_FRAME_OPTIONS).is_none());
        let res = page(
            StatusCode::OK,
            maud::html! { p { "x" } },
            &FrameAncestors::None,
        );
        assert_eq!(
            res.headers()
                .get(header::X_FRAME_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("DENY")
        );
        let empty = FrameAncestors::Origins(Vec::new());
        assert!(content_security_policy(&empty).ends_with("frame-ancestors 'none'"));
    }

    #[test]
    fn forwarded_proto_is_read_from_the_nearest_proxy() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(
                    header::HeaderName::from_static(k),
                    header::HeaderValue::from_static(v),
                );
            }
            map
        };
        assert!(forwarded_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(!forwarded_https(&headers(&[(
            "x-forwarded-proto",
            "https, http"
        )])));
        assert!(forwarded_https(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!forwarded_https(&headers(&[])));
    }
}
