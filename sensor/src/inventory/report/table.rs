//! A readable summary: what is installed and configured, then the findings, worst first.

use std::fmt::Write;

use crate::inventory::model::{Record, Report};

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// Columns padded to their widest cell (each at most `max`).
fn table(out: &mut String, title: &str, header: &[&str], rows: Vec<Vec<String>>, max: usize) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title} ({})", rows.len());
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (index, cell) in row.iter().enumerate() {
            widths[index] = widths[index].max(cell.chars().count().min(max));
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                let cell = cut(cell, max);
                if index == last {
                    cell
                } else {
                    format!("{cell:<width$}", width = widths[index])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(out, "  {}", line(header.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        let _ = writeln!(out, "  {}", line(row));
    }
    out.push('\n');
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let user = |owner: &crate::inventory::model::Owner| owner.user.clone().unwrap_or_else(|| owner.scope.to_string());
    let mut agents = Vec::new();
    let mut servers = Vec::new();
    let mut skills = Vec::new();
    let mut instructions = Vec::new();
    let mut models = Vec::new();
    for owned in &report.records {
        match &owned.item {
            Record::Agent(agent) => agents.push(vec![
                agent.agent.clone(),
                agent.version.clone().unwrap_or_else(|| "-".into()),
                agent.source.to_string(),
                user(&owned.owner),
                agent.path.display().to_string(),
            ]),
            Record::McpServer(server) => {
                let target = match &server.url {
                    Some(url) => url.clone(),
                    None => std::iter::once(server.command.clone().unwrap_or_default())
                        .chain(server.args.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                servers.push(vec![
                    server.agent.clone(),
                    server.name.clone(),
                    server.transport.as_str().to_string(),
                    target,
                    server.file.display().to_string(),
                ])
            }
            Record::Skill(skill) => skills.push(vec![
                skill.agent.clone(),
                skill.kind.to_string(),
                skill.name.clone().unwrap_or_else(|| "-".into()),
                skill.path.display().to_string(),
            ]),
            Record::Instructions(file) => instructions.push(vec![
                file.agent.clone(),
                file.bytes.to_string(),
                file.path.display().to_string(),
            ]),
            Record::ModelServer(server) => models.push(vec![
                server.server.to_string(),
                format!("{}:{}", server.address, server.port),
                if server.loopback { "loopback" } else { "all interfaces" }.to_string(),
            ]),
        }
    }
    table(
        &mut out,
        "Agents",
        &["AGENT", "VERSION", "SOURCE", "USER", "PATH"],
        agents,
        70,
    );
    table(
        &mut out,
        "MCP servers",
        &["AGENT", "NAME", "TRANSPORT", "COMMAND/URL", "FILE"],
        servers,
        60,
    );
    table(
        &mut out,
        "Skills, plugins, extensions",
        &["AGENT", "KIND", "NAME", "PATH"],
        skills,
        70,
    );
    table(
        &mut out,
        "Instruction files",
        &["AGENT", "BYTES", "PATH"],
        instructions,
        90,
    );
    table(
        &mut out,
        "Model servers",
        &["SERVER", "ADDRESS", "LISTENS ON"],
        models,
        40,
    );
    let findings = report
        .findings
        .iter()
        .map(|finding| {
            let place = match finding.line {
                Some(line) => format!("{}:{line}", finding.file.display()),
                None => finding.file.display().to_string(),
            };
            vec![
                finding.severity.as_str().to_string(),
                finding.check.id.to_string(),
                place,
                finding.message.clone(),
            ]
        })
        .collect();
    table(&mut out, "Findings", &["SEVERITY", "ID", "FILE", "WHAT"], findings, 90);
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    }
    for problem in &report.problems {
        let _ = writeln!(out, "not read: {problem}");
    }
    out
}
