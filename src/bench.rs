//! The webhook load benchmark (filled in below).
pub async fn bare_server(_listen: &str) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
pub async fn webhook(_r: u32, _d: u64, _s: u64, _c: usize) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
