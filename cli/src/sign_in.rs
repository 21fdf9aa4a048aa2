//! `mailpresence sign-in` and `sign-out`: the worker's sign-in with the
//! company's provider (`[oauth]` in the account file) by the device-code
//! flow — a URL and a code to type in any browser, here or on a phone —
//! for desktops and tests. The refresh token goes to a file beside the
//! phone's state, readable by its owner only; the phone commands then log
//! in to IMAP and SMTP with it.

use std::process::ExitCode;

use mailpresence_protocol::transport::oauth::sign_in::{DeviceSignIn, sign_out};

use crate::CliError;
use crate::terminal::{Account, runtime};

/// Sign in with the provider named in `[oauth]` (device code: open the URL
/// shown, type the code, approve).
#[derive(Debug, clap::Args)]
pub struct SignInArgs {
    #[command(flatten)]
    account: Account,
}

/// Sign out: the provider revokes the refresh token where it can, and the
/// file is removed.
#[derive(Debug, clap::Args)]
pub struct SignOutArgs {
    #[command(flatten)]
    account: Account,
}

pub fn sign_in(args: SignInArgs) -> Result<ExitCode, CliError> {
    let config = args.account.read()?;
    let provider = config.oauth.clone().ok_or_else(|| {
        CliError::Input(format!(
            "{} has no [oauth] section: nothing to sign in with",
            args.account_file()
        ))
    })?;
    let store = args.account.refresh_tokens(&config);
    let rt = runtime()?;
    rt.block_on(async {
        let flow = DeviceSignIn::start(&provider).await?;
        // On stderr: stdout stays for what scripts read.
        eprintln!(
            "To sign in as {}, open {} and enter the code {}",
            config.mail,
            flow.verification_uri(),
            flow.user_code()
        );
        if let Some(complete) = flow.verification_uri_complete() {
            eprintln!("(or open {complete})");
        }
        // Machine-readable for tests and wrappers.
        println!(
            "{}",
            serde_json::json!({
                "verification_uri": flow.verification_uri(),
                "user_code": flow.user_code(),
            })
        );
        flow.finish(&store).await
    })
    .map_err(|e| CliError::Input(e.to_string()))?;
    eprintln!(
        "signed in; the refresh token is in {}",
        store.path().display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn sign_out_command(args: SignOutArgs) -> Result<ExitCode, CliError> {
    let config = args.account.read()?;
    let store = args.account.refresh_tokens(&config);
    let Some(provider) = config.oauth else {
        return Ok(ExitCode::SUCCESS);
    };
    runtime()?
        .block_on(sign_out(&provider, &store))
        .map_err(|e| CliError::Input(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

impl SignInArgs {
    fn account_file(&self) -> String {
        self.account.file().display().to_string()
    }
}
