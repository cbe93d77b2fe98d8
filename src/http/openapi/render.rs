//! `GET /docs`: a plain, self-contained HTML rendering of the document: no scripts, no
//! fonts, nothing fetched, so `/docs` works offline and behind any firewall.
use std::fmt::Write;

use serde_json::{Map, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes and turns `code` spans into `<code>`.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Paragraphs (lines of a block joined) and `- ` lists: the little markdown the
/// descriptions use.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for block in text.split("\n\n") {
        let mut paragraph: Vec<&str> = Vec::new();
        let mut items: Vec<String> = Vec::new();
        for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(item) = line.strip_prefix("- ") {
                items.push(item.to_string());
            } else if let Some(last) = items.last_mut() {
                // A continuation of the last item.
                last.push(' ');
                last.push_str(line);
            } else {
                paragraph.push(line);
            }
        }
        if !paragraph.is_empty() {
            let _ = write!(out, "<p>{}</p>", inline(&paragraph.join(" ")));
        }
        if !items.is_empty() {
            out.push_str("<ul>");
            for item in &items {
                let _ = write!(out, "<li>{}</li>", inline(item));
            }
            out.push_str("</ul>");
        }
    }
    out
}

fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A one-line description of a schema's type, with links to named schemas.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = escape(ref_name(r));
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(items) = schema.get(key).and_then(Value::as_array) {
            let sep = if key == "allOf" { " &amp; " } else { " | " };
            return items.iter().map(type_of).collect::<Vec<_>>().join(sep);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("<code>{}</code>", escape(&v.to_string())))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any".into();
    }
    let joined = types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!(
                "array of {}",
                schema.get("items").map_or("any".into(), type_of)
            ),
            other => escape(other),
        })
        .collect::<Vec<_>>()
        .join(" | ");
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => format!("{joined} ({})", escape(format)),
        None => joined,
    }
}

/// A schema's description, or that of the first alternative that has one (utoipa puts
/// a field's description next to the `$ref` inside `oneOf`).
fn description_of(schema: &Value) -> Option<&str> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .or_else(|| {
            ["oneOf", "anyOf", "allOf"]
                .iter()
                .filter_map(|k| schema.get(*k).and_then(Value::as_array))
                .flatten()
                .find_map(|s| s.get("description").and_then(Value::as_str))
        })
}

/// The example of a schema, following one `$ref`.
fn example_of<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    schema.get("example").or_else(|| {
        let name = ref_name(schema.get("$ref")?.as_str()?);
        doc.pointer(&format!("/components/schemas/{name}/example"))
    })
}

fn constraints(schema: &Value) -> String {
    let mut parts = Vec::new();
    for (key, label) in [
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("default", "default"),
        ("pattern", "pattern"),
    ] {
        if let Some(v) = schema.get(key) {
            parts.push(format!("{label} <code>{}</code>", escape(&v.to_string())));
        }
    }
    parts.join(", ")
}

fn properties_table(schema: &Value) -> String {
    // A schema with a flattened part (`allOf`) lists the properties of every part.
    let parts: Vec<&Value> = match schema.get("allOf").and_then(Value::as_array) {
        Some(all) => all.iter().collect(),
        None => vec![schema],
    };
    let mut rows = Vec::new();
    for part in parts {
        let Some(props) = part.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let required: Vec<&str> = part
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in props {
            rows.push((name, prop, required.contains(&name.as_str())));
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>",
    );
    for (name, prop, required) in rows {
        let description = description_of(prop).map(prose).unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            escape(name),
            type_of(prop),
            if required { "yes" } else { "" },
            description,
            constraints(prop),
        );
    }
    out.push_str("</table>");
    out
}

fn example(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("<pre>{}</pre>", escape(&text))
}

fn operation(out: &mut String, doc: &Value, path: &str, method: &str, op: &Value) {
    let id = op.get("operationId").and_then(Value::as_str).unwrap_or("");
    let summary = op.get("summary").and_then(Value::as_str).unwrap_or("");
    let _ = write!(
        out,
        "<section class=\"op\" id=\"op-{id}\"><h3><span class=\"m {method}\">{}</span> \
         <code>{}</code> — {}</h3>",
        method.to_uppercase(),
        escape(path),
        escape(summary),
        id = escape(id),
    );
    if let Some(d) = op.get("description").and_then(Value::as_str) {
        out.push_str(&prose(d));
    }
    let security: Vec<String> = op
        .get("security")
        .and_then(Value::as_array)
        .map(|reqs| {
            reqs.iter()
                .filter_map(Value::as_object)
                .flat_map(|r| r.keys().map(|k| format!("<code>{}</code>", escape(k))))
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        out,
        "<p class=\"auth\">Auth: {}</p>",
        if security.is_empty() {
            "none (public)".to_string()
        } else {
            security.join(" or ")
        }
    );
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        out.push_str(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>\
             <th>required</th><th>description</th></tr>",
        );
        for p in params {
            let schema = p.get("schema").cloned().unwrap_or(Value::Null);
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                escape(p.get("name").and_then(Value::as_str).unwrap_or("")),
                escape(p.get("in").and_then(Value::as_str).unwrap_or("")),
                type_of(&schema),
                if p.get("required") == Some(&Value::Bool(true)) {
                    "yes"
                } else {
                    ""
                },
                p.get("description")
                    .and_then(Value::as_str)
                    .map(prose)
                    .unwrap_or_default(),
                constraints(&schema),
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = op.pointer("/requestBody/content/application~1json") {
        let schema = body.get("schema").cloned().unwrap_or(Value::Null);
        let _ = write!(out, "<h4>Request body</h4><p>{}</p>", type_of(&schema));
        if let Some(ex) = body.get("example").or_else(|| example_of(doc, &schema)) {
            out.push_str(&example(ex));
        }
    }
    out.push_str(
        "<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>",
    );
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        for (status, response) in responses {
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(r) => doc
                    .pointer(&format!("/components/responses/{}", ref_name(r)))
                    .unwrap_or(response),
                None => response,
            };
            let content = response.get("content").and_then(Value::as_object);
            let body = content
                .and_then(|c| c.values().next())
                .and_then(|c| c.get("schema"))
                .map(type_of)
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(status),
                prose(
                    response
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
                body
            );
        }
    }
    out.push_str("</table>");
    if let Some(ex) = op
        .pointer("/responses/200/content/application~1json/example")
        .or_else(|| op.pointer("/responses/201/content/application~1json/example"))
    {
        out.push_str("<h4>Example response</h4>");
        out.push_str(&example(ex));
    }
    out.push_str("</section>");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;\
    padding:0 1rem;color:#222;line-height:1.45}code,pre{font-family:ui-monospace,monospace;\
    font-size:.9em}pre{background:#f5f5f5;padding:.75rem;overflow:auto}table{border-collapse:\
    collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;\
    text-align:left;vertical-align:top}th{background:#fafafa}.op{border-top:1px solid #ccc;\
    padding-top:.5rem;margin-top:1.5rem}.m{display:inline-block;min-width:4.5rem;color:#fff;\
    border-radius:3px;padding:0 .4rem;text-align:center;font-size:.85em}.get{background:#2b7a3d}\
    .post{background:#2456a6}.put{background:#8a5a00}.patch{background:#6b3fa0}\
    .delete{background:#b02a2a}.auth{color:#555}nav li{margin:.1rem 0}td p,li p{margin:0}";

/// The whole page.
pub fn page(doc: &Value) -> String {
    let empty = Map::new();
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let tags: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let field = |k: &str| {
                        t.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    (field("name"), field("description"))
                })
                .collect()
        })
        .unwrap_or_default();
    let ops_of = |tag: &str| {
        let mut found = Vec::new();
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method)
                    && op
                        .get("tags")
                        .and_then(Value::as_array)
                        .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag)))
                {
                    found.push((path.as_str(), method, op));
                }
            }
        }
        found
    };

    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><h1>{t} <small>{v}</small></h1>\
         <p>The machine-readable document: <a href=\"/openapi.json\">/openapi.json</a> \
         (OpenAPI {o}).</p>",
        t = escape(title),
        v = escape(version),
        o = escape(doc.get("openapi").and_then(Value::as_str).unwrap_or("")),
    );
    if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
        out.push_str(&prose(d));
    }
    out.push_str("<nav><h2>Contents</h2><ul>");
    for (tag, description) in &tags {
        let _ = write!(
            out,
            "<li><a href=\"#tag-{t}\">{t}</a> — {}<ul>",
            inline(description),
            t = escape(tag)
        );
        for (path, method, op) in ops_of(tag) {
            let _ = write!(
                out,
                "<li><a href=\"#op-{}\">{} {}</a></li>",
                escape(op.get("operationId").and_then(Value::as_str).unwrap_or("")),
                method.to_uppercase(),
                escape(path)
            );
        }
        out.push_str("</ul></li>");
    }
    out.push_str("<li><a href=\"#schemas\">Schemas</a></li></ul></nav>");
    for (tag, description) in &tags {
        let _ = write!(
            out,
            "<h2 id=\"tag-{t}\">{t}</h2><p>{}</p>",
            inline(description),
            t = escape(tag)
        );
        for (path, method, op) in ops_of(tag) {
            operation(&mut out, doc, path, method, op);
        }
    }
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<section id=\"schema-{n}\"><h3>{n}</h3>",
                n = escape(name)
            );
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                out.push_str(&prose(d));
            }
            let table = properties_table(schema);
            if table.is_empty() {
                let _ = write!(out, "<p>{}</p>", type_of(schema));
            } else {
                out.push_str(&table);
            }
            if let Some(ex) = schema.get("example") {
                out.push_str("<p>Example:</p>");
                out.push_str(&example(ex));
            }
            out.push_str("</section>");
        }
    }
    out.push_str("</body></html>");
    out
}
