//! `pipectl dashboards install|export`: pipectl's OpenSearch Dashboards saved objects
//! (index patterns, searches, visualizations, dashboards), embedded in the binary.
//!
//! `install` posts them to the Dashboards import API
//! (`POST /api/saved_objects/_import?overwrite=true`, multipart field `file`, header
//! `osd-xsrf: true`), so running it again replaces pipectl's objects with this
//! version's; `export` writes the file for importing by hand.

use super::opensearch::ConnectArgs;
use crate::exit::Exit;
use pipectl_connectors::sinks::opensearch::client::Request;
use pipectl_connectors::sinks::opensearch::encode::content_id;
use pipectl_connectors::sinks::opensearch::time::now_ms;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;

/// The saved objects, as exported from OpenSearch Dashboards 2.x.
pub const SAVED_OBJECTS: &str = include_str!("../../../dashboards/saved-objects/pipectl.ndjson");

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Import the saved objects into OpenSearch Dashboards (replacing earlier versions).
    Install(InstallArgs),
    /// Write the saved objects (NDJSON) to a file or stdout.
    Export(ExportArgs),
}

#[derive(clap::Args)]
struct InstallArgs {
    /// OpenSearch Dashboards URL [default: $OPENSEARCH_DASHBOARDS_URL, else
    /// http://127.0.0.1:5601]; auth and TLS as for OpenSearch.
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Where to write [default: stdout].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), Exit> {
    match args.command {
        Sub::Export(a) => export(a),
        Sub::Install(a) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Exit::runtime(format!("cannot start the async runtime: {e}")))?;
            runtime.block_on(install(a))
        }
    }
}

fn export(args: ExportArgs) -> Result<(), Exit> {
    let objects = SAVED_OBJECTS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    match args.out {
        Some(path) => {
            std::fs::write(&path, SAVED_OBJECTS)
                .map_err(|e| Exit::runtime(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {objects} saved objects to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(SAVED_OBJECTS.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Exit::runtime(format!("cannot write to stdout: {e}")))?;
        }
    }
    Ok(())
}

/// A `multipart/form-data` body with one file field; returns the body and its
/// content type.
pub fn multipart(
    field: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
) -> (Vec<u8>, String) {
    // The boundary must not occur in the data: derive it from the data and the time.
    let boundary = format!(
        "pipectl-{}",
        content_id(&[data, now_ms().to_string().as_bytes()])
    );
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

async fn install(args: InstallArgs) -> Result<(), Exit> {
    let client = args
        .connect
        .client("OPENSEARCH_DASHBOARDS_URL", "http://127.0.0.1:5601")?;
    let (body, content_type) = multipart(
        "file",
        "pipectl.ndjson",
        "application/ndjson",
        SAVED_OBJECTS.as_bytes(),
    );
    let request = Request::post("/api/saved_objects/_import")
        .query("overwrite", "true")
        .body(body, &content_type)
        .header("osd-xsrf", "true");
    let reply = client.send(request).await.map_err(Exit::runtime)?;
    if !reply.is_success() {
        let hint = match reply.status {
            401 | 403 => " (check --username and $OPENSEARCH_PASSWORD)",
            404 => " (is this the OpenSearch Dashboards URL, not OpenSearch's?)",
            _ => "",
        };
        return Err(Exit::runtime(format!(
            "OpenSearch Dashboards at {} refused the import with HTTP {}{hint}: {}",
            client.url(),
            reply.status,
            reply.preview()
        )));
    }
    let answer = reply.json().map_err(Exit::runtime)?;
    let imported = answer
        .get("successCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let errors = answer
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!("imported {imported} saved objects into {}", client.url());
    for error in &errors {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        let detail = error.get("error").cloned().unwrap_or(Value::Null);
        let mut line = format!(
            "error: {} {} ({}): {}",
            text(error, "type"),
            text(error, "id"),
            text(error, "title"),
            text(&detail, "type")
        );
        if let Some(message) = detail.get("message").and_then(Value::as_str) {
            line.push_str(&format!(": {message}"));
        }
        if let Some(refs) = detail.get("references").and_then(Value::as_array) {
            let names: Vec<String> = refs
                .iter()
                .map(|r| format!("{} {}", text(r, "type"), text(r, "id")))
                .collect();
            line.push_str(&format!(" (missing: {})", names.join(", ")));
        }
        eprintln!("{line}");
    }
    if answer.get("success").and_then(Value::as_bool) != Some(true) || !errors.is_empty() {
        return Err(Exit::silent(crate::exit::RUNTIME));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_frame_the_file() {
        let (body, content_type) =
            multipart("file", "x.ndjson", "application/ndjson", b"{\"a\":1}\n");
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.ndjson\"\r\n")));
        assert!(text.contains("Content-Type: application/ndjson\r\n\r\n{\"a\":1}\n\r\n"));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn the_embedded_objects_are_ndjson() {
        let mut n = 0;
        for line in SAVED_OBJECTS.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(v.get("type").is_some() && v.get("id").is_some(), "{line}");
            n += 1;
        }
        assert!(n > 10);
    }
}
