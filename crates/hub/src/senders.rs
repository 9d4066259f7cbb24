//! Where verification codes go besides the wallet's notification stream: the seam for SMS and
//! other channels.
//!
//! The hub always writes a code to the payer wallet's in-app stream; a [`CodeSender`] sends it on
//! another channel too. [`CommandSender`] is the one shipped: it runs a program the operator
//! configures (`[payments] code_command`) — typically a small script calling an SMS gateway —
//! with the message on standard input and the wallet and payment in the environment, so a
//! deployment plugs in its provider without a build. The code reaches the program and nothing
//! else: the hub never logs it, and the program's output is not read.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use uuid::Uuid;

/// What a channel is given for one code.
pub struct CodeMessage<'a> {
    pub wallet_id: Uuid,
    pub payment_id: Uuid,
    /// The text for the user, code included.
    pub text: &'a str,
}

pub type SendResult<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// A channel for verification codes.
pub trait CodeSender: Send + Sync + 'static {
    fn send<'a>(&'a self, message: CodeMessage<'a>) -> SendResult<'a>;
}

/// How long a code program may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `program` for each code: the text on standard input, `SCANPAY_WALLET_ID` and
/// `SCANPAY_PAYMENT_ID` in the environment. Exit status 0 is success.
pub struct CommandSender {
    pub program: std::path::PathBuf,
}

impl CodeSender for CommandSender {
    fn send<'a>(&'a self, message: CodeMessage<'a>) -> SendResult<'a> {
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new(&self.program)
                .env("SCANPAY_WALLET_ID", message.wallet_id.to_string())
                .env("SCANPAY_PAYMENT_ID", message.payment_id.to_string())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", self.program.display()))?;
            let mut stdin = child.stdin.take().ok_or("no standard input")?;
            match stdin.write_all(message.text.as_bytes()).await {
                // A program may exit without reading its input: its exit status decides.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(format!("writing to {}: {e}", self.program.display())),
                Ok(()) => {}
            }
            drop(stdin);
            match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(format!("{} exited with {status}", self.program.display())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "{} took longer than {COMMAND_TIMEOUT:?}",
                    self.program.display()
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_gets_the_message_and_the_ids() {
        let dir = std::env::temp_dir().join(format!("scanpay-sender-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("sent.txt");
        let script = dir.join("send-sms");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n{{ cat; echo; echo \"$SCANPAY_WALLET_ID $SCANPAY_PAYMENT_ID\"; }} > {}\n",
                out.display()
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let sender = CommandSender { program: script };
        let (wallet, payment) = (Uuid::from_u128(1), Uuid::from_u128(2));
        sender
            .send(CodeMessage {
                wallet_id: wallet,
                payment_id: payment,
                text: "Your code: 123456",
            })
            .await
            .unwrap();
        let sent = std::fs::read_to_string(&out).unwrap();
        assert_eq!(sent, format!("Your code: 123456\n{wallet} {payment}\n"));

        let failing = CommandSender {
            program: "/bin/false".into(),
        };
        let error = failing
            .send(CodeMessage {
                wallet_id: wallet,
                payment_id: payment,
                text: "x",
            })
            .await
            .unwrap_err();
        assert!(error.contains("exited"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
