//! `wacrm templates`: Meta message templates from the shell — lint files offline (CI), create, submit,
//! sync, edit, delete and render the exact message a contact gets. Exit codes: 2 when a template
//! fails lint or a value is missing, 3 not found, 4 locked or in use, 5 Meta's creation or edit
//! limit, 7 the Graph API refused.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use wacrm_core::ContactId;
use wacrm_core::templates::spec::{
    Body, Button, Buttons, Component, Example, Footer, Header, HeaderFormat, NamedExample,
};
use wacrm_core::templates::{self, Category, LintError, ParameterFormat, TemplateRef, TemplateSpec, Values};
use wacrm_core::whatsapp::client::GraphClient;

use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check template files offline against Meta's rules (for CI): exit 0 when all pass, 2 otherwise.
    ///
    /// Each finding names the field, the rule and the fix. Files are JSON (Meta's create body) or TOML
    /// with the same fields; `-` reads standard input.
    ///
    /// Example: wacrm templates lint templates/*.json --json
    Lint {
        /// Template files (JSON or TOML), or - for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Create a template as a draft, from a file or from flags; refused when it fails lint.
    ///
    /// Example: wacrm templates create --name order_update --language en_US --category UTILITY --body 'Hi {{1}}, order {{2}} has shipped.' --body-example Ana --body-example 4411 --submit
    Create {
        #[command(flatten)]
        spec: SpecArgs,
        /// Submit it to Meta for review right away.
        #[arg(long)]
        submit: bool,
    },
    /// List templates with their status, category, quality and rejection reason.
    ///
    /// Example: wacrm templates list --json
    List {
        /// Include deleted templates.
        #[arg(long)]
        all: bool,
    },
    /// One template: its definition, Meta's status, history, edit slots and lint findings.
    ///
    /// Example: wacrm templates show order_update --language en_US
    Show {
        #[command(flatten)]
        template: Which,
    },
    /// Change a template (same name and language). Approved templates are locked: pass
    /// --use-edit-slot to spend one of Meta's edit slots (1 per 24 h, 10 per 30 days).
    ///
    /// Example: wacrm templates edit order_update --file order_update.json
    Edit {
        #[command(flatten)]
        template: Which,
        #[command(flatten)]
        spec: SpecArgs,
        /// Edit an approved template at Meta, spending one of its edit slots.
        #[arg(long)]
        use_edit_slot: bool,
    },
    /// Delete a template (one language), at Meta too; refused while a campaign or rule uses it, and
    /// for DISABLED templates. Meta then locks the name for 30 days.
    ///
    /// Example: wacrm templates rm spring_sale
    Rm {
        #[command(flatten)]
        template: Which,
    },
    /// The exact message a contact would get: named parameters from the contact's fields (name,
    /// first_name, phone) unless given; numbered ones with --param 1=…; a missing value is an error.
    ///
    /// Example: wacrm templates render order_update --contact 42 --param 1=Ana --param 2=4411
    Render {
        #[command(flatten)]
        template: Which,
        /// The contact it is for.
        #[arg(long)]
        contact: ContactId,
        /// A value: 1=Ana (body), header.1=… (header), header=https://… (media header link),
        /// button.0=… (URL button suffix), first_name=… (named). Repeatable.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Submit a draft to Meta for review (at most 100 creations per WABA per hour).
    ///
    /// Example: wacrm templates submit order_update
    Submit {
        #[command(flatten)]
        template: Which,
    },
    /// Fetch every template of the business's WABAs from Meta and update the local ones (templates
    /// made in Meta's UI appear).
    ///
    /// Example: wacrm templates sync --json
    Sync,
}

/// Which template: its id or name, and the language when the name has several.
#[derive(Debug, Args)]
pub struct Which {
    /// Template id or name.
    #[arg(value_name = "ID|NAME")]
    template: TemplateRef,
    /// The language, when the name exists in several (e.g. en_US).
    #[arg(long)]
    language: Option<String>,
}

impl Which {
    fn reference(&self) -> TemplateRef {
        self.template.clone().with_language(self.language.clone())
    }
}

/// A definition from a file, or built from flags.
#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A JSON (Meta's create body) or TOML file with the definition; - reads standard input.
    #[arg(long, conflicts_with_all = ["name", "category", "body", "header", "footer"])]
    file: Option<PathBuf>,
    /// Lowercase letters, digits and _ (edit: defaults to the template's).
    #[arg(long)]
    name: Option<String>,
    /// Meta's language code, e.g. en_US.
    #[arg(long = "lang", value_name = "CODE")]
    lang: Option<String>,
    /// MARKETING, UTILITY or AUTHENTICATION.
    #[arg(long)]
    category: Option<Category>,
    /// POSITIONAL ({{1}}, the default) or NAMED ({{first_name}}) (edit: defaults to the template's).
    #[arg(long)]
    parameter_format: Option<ParameterFormat>,
    /// The message text, up to 1,024 characters.
    #[arg(long)]
    body: Option<String>,
    /// An example per body parameter, in order (positional), or name=value (named). Repeatable.
    #[arg(long, value_name = "VALUE")]
    body_example: Vec<String>,
    /// A text header, up to 60 characters and one parameter.
    #[arg(long)]
    header: Option<String>,
    /// The header parameter's example.
    #[arg(long, value_name = "VALUE")]
    header_example: Option<String>,
    /// A footer, up to 60 characters.
    #[arg(long)]
    footer: Option<String>,
    /// A quick-reply button label. Repeatable.
    #[arg(long, value_name = "LABEL")]
    quick_reply: Vec<String>,
    /// A URL button: LABEL|URL[|EXAMPLE URL]. Repeatable (at most 2).
    #[arg(long, value_name = "LABEL|URL[|EXAMPLE]")]
    url_button: Vec<String>,
    /// A call button: LABEL|+PHONE.
    #[arg(long, value_name = "LABEL|PHONE")]
    phone_button: Option<String>,
}

/// A file's text, or standard input's for `-`.
fn read_file(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading the template from standard input");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl SpecArgs {
    /// The definition; `current` fills the name, language and category an edit leaves out.
    fn spec(&self, current: Option<&TemplateSpec>) -> Result<TemplateSpec> {
        if let Some(file) = &self.file {
            return Ok(TemplateSpec::parse(&read_file(file)?)?);
        }
        let missing = |flag: &str| {
            wacrm_core::Error::invalid(
                format!("{flag} is required"),
                "pass it, or give the whole definition with --file",
            )
        };
        let name = self.name.clone().or(current.map(|c| c.name.clone())).ok_or_else(|| missing("--name"))?;
        let language = self.lang.clone().or(current.map(|c| c.language.clone())).ok_or_else(|| missing("--lang"))?;
        let category = self.category.or(current.map(|c| c.category)).ok_or_else(|| missing("--category"))?;
        let body = self.body.clone().ok_or_else(|| missing("--body"))?;
        let format = self.parameter_format.or(current.map(|c| c.parameter_format)).unwrap_or_default();
        let mut components = Vec::new();
        if let Some(text) = &self.header {
            let example = self.header_example.as_ref().map(|value| match format {
                ParameterFormat::Positional => Example { header_text: Some(vec![value.clone()]), ..Example::default() },
                ParameterFormat::Named => Example {
                    header_text_named_params: Some(named_examples(std::slice::from_ref(value))),
                    ..Example::default()
                },
            });
            components.push(Component::Header(Header {
                format: HeaderFormat::Text,
                text: Some(text.clone()),
                example,
            }));
        }
        let example = (!self.body_example.is_empty()).then(|| match format {
            ParameterFormat::Positional => {
                Example { body_text: Some(vec![self.body_example.clone()]), ..Example::default() }
            }
            ParameterFormat::Named => {
                Example { body_text_named_params: Some(named_examples(&self.body_example)), ..Example::default() }
            }
        });
        components.push(Component::Body(Body { text: body, example }));
        if let Some(text) = &self.footer {
            components.push(Component::Footer(Footer { text: text.clone() }));
        }
        let mut buttons = Vec::new();
        let button = |kind: &str, text: &str| Button {
            kind: kind.into(),
            text: Some(text.into()),
            url: None,
            phone_number: None,
            example: None,
            other: Default::default(),
        };
        for label in &self.quick_reply {
            buttons.push(button("QUICK_REPLY", label));
        }
        for spec in &self.url_button {
            let mut parts = spec.splitn(3, '|');
            let mut b = button("URL", parts.next().unwrap_or_default());
            b.url = parts.next().map(Into::into);
            b.example = parts.next().map(|e| json!([e]));
            buttons.push(b);
        }
        if let Some(spec) = &self.phone_button {
            let (label, phone) = spec.split_once('|').unwrap_or((spec, ""));
            let mut b = button("PHONE_NUMBER", label);
            b.phone_number = Some(phone.into());
            buttons.push(b);
        }
        if !buttons.is_empty() {
            components.push(Component::Buttons(Buttons { buttons }));
        }
        Ok(TemplateSpec { name, language, category, parameter_format: format, components })
    }
}

/// `name=value` examples of named parameters (a bare value is kept under an empty name, which lint
/// then reports).
fn named_examples(values: &[String]) -> Vec<NamedExample> {
    values
        .iter()
        .map(|v| {
            let (name, example) = v.split_once('=').unwrap_or(("", v));
            NamedExample { param_name: name.trim().into(), example: example.into() }
        })
        .collect()
}

/// One finding of `lint`, with the file it is in.
#[derive(Debug, Serialize)]
struct FileFinding<'a> {
    file: String,
    #[serde(flatten)]
    finding: &'a LintError,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    if let Command::Lint { files } = &command {
        return lint(ctx, files);
    }
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    let graph = GraphClient::from_settings(&ctx.settings);
    match command {
        Command::Lint { .. } => Ok(()),
        Command::Create { spec, submit } => {
            let spec = spec.spec(None)?;
            let created = templates::create(pool, &scope, &spec).await?;
            if !submit {
                return ctx.out.done(
                    &format!(
                        "created draft template {} ({}); submit it with `wacrm templates submit {}`",
                        created.name, created.id, created.id
                    ),
                    &created,
                );
            }
            let submitted =
                templates::submit(pool, &graph, &scope, &TemplateRef::Id(created.id)).await.with_context(|| {
                    format!("template {} was created as draft {} but not submitted", created.name, created.id)
                })?;
            warn(&submitted.warnings);
            ctx.out.done(
                &format!(
                    "created template {} ({}) and submitted it: {}",
                    created.name, created.id, submitted.template.status
                ),
                &submitted,
            )
        }
        Command::List { all } => {
            let list = templates::list(pool, &scope, all).await?;
            ctx.out.list(&list, &["id", "name", "language", "category", "status", "quality", "rejection_reason"])
        }
        Command::Show { template } => {
            let detail = templates::show(pool, &scope, &template.reference()).await?;
            if ctx.out.format != Format::Table {
                return ctx.out.record(&detail);
            }
            let t = &detail.template;
            ctx.out.line(format!(
                "{} ({}) #{}  {}  {}",
                t.name,
                t.language,
                t.id,
                t.category.as_deref().unwrap_or("-"),
                t.status
            ))?;
            if let Some(reason) = &t.rejection_reason {
                ctx.out.line(format!("rejected: {reason}"))?;
            }
            if let Some(pending) = &t.pending_category {
                ctx.out.line(format!(
                    "Meta will re-categorise it as {pending} at {}",
                    t.pending_category_at.map(|a| a.to_rfc3339()).unwrap_or_default()
                ))?;
            }
            ctx.out.line(format!(
                "quality: {}   Meta id: {}",
                t.quality.as_deref().unwrap_or("-"),
                t.meta_id.as_deref().unwrap_or("-")
            ))?;
            ctx.out.line(format!("edit slots: {}", detail.edit_slots.describe()))?;
            ctx.out.line(format!("\n{}\n", t.content))?;
            for finding in &detail.lint {
                ctx.out.line(format!("lint: {finding}"))?;
            }
            for h in &detail.history {
                ctx.out.line(format!(
                    "{}  {} {} ({}){}",
                    h.at.format("%Y-%m-%d %H:%M"),
                    h.kind,
                    h.value,
                    h.source,
                    h.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        Command::Edit { template, spec, use_edit_slot } => {
            let reference = template.reference();
            let current = templates::get(pool, &scope, &reference).await?;
            let spec = spec.spec(Some(&current.spec()))?;
            let edited = templates::edit(pool, &graph, &scope, &reference, &spec, use_edit_slot).await?;
            let how = if edited.sent_to_meta { "sent to Meta for review" } else { "changed locally" };
            ctx.out
                .done(&format!("template {} {how} ({})", edited.template.name, edited.edit_slots.describe()), &edited)
        }
        Command::Rm { template } => {
            let removed = templates::remove(pool, &graph, &scope, &template.reference()).await?;
            warn(&removed.warnings);
            ctx.out.done(&format!("template {} deleted", removed.template.name), &removed)
        }
        Command::Render { template, contact, params } => {
            let explicit = Values::parse_pairs(&params)?;
            let rendered =
                templates::render_for_contact(pool, &scope, &template.reference(), contact, explicit).await?;
            if ctx.out.format != Format::Table {
                return ctx.out.record(&rendered);
            }
            if let Some(header) = &rendered.header {
                ctx.out.line(header)?;
            }
            ctx.out.line(&rendered.body)?;
            if let Some(footer) = &rendered.footer {
                ctx.out.line(footer)?;
            }
            for b in &rendered.buttons {
                ctx.out.line(format!(
                    "[{}]{}",
                    b.text.as_deref().unwrap_or(&b.kind),
                    b.url.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
                ))?;
            }
            Ok(())
        }
        Command::Submit { template } => {
            let submitted = templates::submit(pool, &graph, &scope, &template.reference()).await?;
            warn(&submitted.warnings);
            let t = &submitted.template;
            ctx.out.done(
                &format!(
                    "template {} submitted: {} (Meta id {})",
                    t.name,
                    t.status,
                    t.meta_id.as_deref().unwrap_or("-")
                ),
                &submitted,
            )
        }
        Command::Sync => {
            let report = templates::sync(pool, &graph, &scope).await?;
            warn(&report.skipped);
            ctx.out.done(
                &format!(
                    "synced {} page(s): {} new, {} updated, {} unchanged",
                    report.pages, report.created, report.updated, report.unchanged
                ),
                &report,
            )
        }
    }
}

/// Warnings go to stderr, so scripts reading stdout get only the record.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Lints files without a database: findings on stdout (JSON: one array), exit 2 when any fail.
fn lint(ctx: &Context, files: &[PathBuf]) -> Result<()> {
    let mut findings: Vec<(String, LintError)> = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match TemplateSpec::parse(&read_file(file)?) {
            Ok(spec) => findings.extend(templates::lint(&spec).into_iter().map(|f| (name.clone(), f))),
            Err(e) => findings.push((
                name.clone(),
                LintError {
                    field: "(file)".into(),
                    rule: "unreadable",
                    message: e.to_string(),
                    fix: crate::wording::hint(&e).unwrap_or_default(),
                },
            )),
        }
    }
    let rows: Vec<FileFinding> =
        findings.iter().map(|(file, finding)| FileFinding { file: file.clone(), finding }).collect();
    match ctx.out.format {
        Format::Table => {
            for row in &rows {
                ctx.out.line(format!("{}: {}", row.file, row.finding))?;
            }
        }
        _ => ctx.out.list(&rows, &["file", "field", "rule", "message", "fix"])?,
    }
    if findings.is_empty() {
        if ctx.out.format == Format::Table {
            ctx.out.line(format!("{} file(s) pass", files.len()))?;
        }
        return Ok(());
    }
    let failing: std::collections::BTreeSet<&str> = findings.iter().map(|(f, _)| f.as_str()).collect();
    Err(wacrm_core::Error::invalid(
        format!("{} of {} file(s) fail lint with {} finding(s)", failing.len(), files.len(), findings.len()),
        "fix each finding as its fix says, then run `wacrm templates lint` again",
    )
    .into())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        spec: SpecArgs,
    }

    fn spec(args: &[&str]) -> Result<TemplateSpec> {
        Flags::try_parse_from(["t"].iter().chain(args)).unwrap().spec.spec(None)
    }

    #[test]
    fn flags_build_a_definition_meta_accepts() {
        let built = spec(&[
            "--name",
            "order_update",
            "--lang",
            "en_US",
            "--category",
            "utility",
            "--header",
            "Order {{1}}",
            "--header-example",
            "4411",
            "--body",
            "Hi {{1}}, order {{2}} has shipped.",
            "--body-example",
            "Ana",
            "--body-example",
            "4411",
            "--footer",
            "Reply STOP to opt out",
            "--quick-reply",
            "Thanks",
            "--url-button",
            "Track|https://e.com/t/{{1}}|https://e.com/t/4411",
            "--phone-button",
            "Call|+15550783881",
        ])
        .unwrap();
        assert_eq!(templates::lint(&built), vec![]);
        assert_eq!(built.category, Category::Utility);
        assert_eq!(built.buttons()[1].url.as_deref(), Some("https://e.com/t/{{1}}"));
        let named = spec(&[
            "--name",
            "welcome",
            "--lang",
            "en",
            "--category",
            "MARKETING",
            "--parameter-format",
            "named",
            "--body",
            "Hi {{first_name}}, welcome aboard.",
            "--body-example",
            "first_name=Ana",
        ])
        .unwrap();
        assert_eq!(templates::lint(&named), vec![]);
    }

    #[test]
    fn a_missing_flag_is_named() {
        let e = spec(&["--name", "x", "--lang", "en", "--body", "Hi there."]).unwrap_err();
        assert!(e.to_string().contains("--category"), "{e}");
    }
}
