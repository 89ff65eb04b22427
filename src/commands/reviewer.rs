//! `backtalk reviewer add | token`: console accounts and API tokens.

use anyhow::Context;

use crate::config::Config;

/// `backtalk reviewer add NAME`: creates the account with a random password and prints it
/// once (only its argon2id hash is stored).
pub async fn add_reviewer(config: Config, name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("a reviewer name must be 1 to 100 printable characters");
    }
    // Before the first `serve`, the data directory (home of the default SQLite file) may not exist yet.
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let password = crate::auth::new_password();
    let id = crate::store::reviewers::add_reviewer(&db, name, &crate::auth::hash_password(&password)?).await?;
    crate::store::reviewers::record_action(&db, None, "reviewer_added", Some(name), "backtalk reviewer add").await?;
    println!("reviewer {name:?} created (id {id}); one-time password, shown only now:\n{password}");
    println!("log in at {}/console", config.public_url.trim_end_matches('/'));
    Ok(())
}

/// `backtalk reviewer token NAME`: a new API token acting as the reviewer, printed once
/// (only its SHA-256 is stored). Actions taken with it are recorded as the reviewer's.
pub async fn issue_api_token(config: Config, name: &str, label: &str) -> anyhow::Result<()> {
    let label = label.trim();
    if label.is_empty() || label.len() > 100 {
        anyhow::bail!("a token label must be 1 to 100 characters");
    }
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let reviewer = crate::store::reviewers::reviewer_by_name(&db, name.trim())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reviewer named {name:?}; create one with `backtalk reviewer add`"))?;
    let token = format!("bt_{}", crate::auth::new_token());
    crate::store::reviewers::add_api_token(&db, reviewer.id, &crate::auth::token_hash(&token), label).await?;
    crate::store::reviewers::record_action(&db, Some(reviewer.id), "api_token_issued", None, label).await?;
    println!("API token for {:?} ({label}), shown only now:\n{token}", reviewer.name);
    println!("use it as: Authorization: Bearer <token> on {}/api/v1/…", config.public_url.trim_end_matches('/'));
    Ok(())
}
