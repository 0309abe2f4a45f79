//! `anpr-edge verify --key PUB.pem READ.json [IMAGE…]`: checks a signed read and its images.

use anpr_edge::read_signing::verify_read;
use anpr_edge::signing::load_verifying_key;
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The unit's public key, PEM (`openssl pkey -in unit.key -pubout`).
    #[arg(long)]
    key: PathBuf,
    /// The read record as received (JSON).
    read: PathBuf,
    /// Images received with it (JPEG files): each must be one the read names.
    images: Vec<PathBuf>,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = load_verifying_key(&args.key)?;
    let read =
        std::fs::read(&args.read).with_context(|| format!("reading {}", args.read.display()))?;
    let mut images = Vec::new();
    for path in &args.images {
        images.push((
            path.clone(),
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        ));
    }
    let verified = verify_read(&read, &key, &images)
        .with_context(|| format!("{}: NOT VERIFIED", args.read.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: read {} verified: signed by key {}",
        args.read.display(),
        verified.read_id,
        verified.key_id
    )?;
    for (path, kind) in &verified.images {
        writeln!(out, "{}: verified: the read's {kind} image", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
