//! `/assets/…`: the stylesheet and scripts compiled into the binary; `/` sends a browser
//! to the console.
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::ui::assets;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(home)))
        .service(web::resource("/assets/{file}").route(web::get().to(asset)));
}

async fn home() -> HttpResponse {
    super::see_other("/console")
}

async fn asset(req: HttpRequest) -> HttpResponse {
    let Some((file, etag)) = assets::find(req.path()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("No such asset");
    };
    let fresh = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    // Stable paths: browsers keep a copy but check it (a cheap 304) before using it.
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((ETAG, etag))
        .insert_header((CACHE_CONTROL, "public, no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if fresh {
        res.finish()
    } else {
        res.insert_header((CONTENT_TYPE, file.content_type))
            .body(file.body)
    }
}
