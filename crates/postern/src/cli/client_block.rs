//! `postern client-block list|lift`: clients blocked now (after too many failed AUTHs, or
//! a listener's daily block) with reason and expiry, and lifting a client's blocks.
//! Superadmin only. A block holds for its whole time even for the right password; lifting
//! is how an administrator ends it early.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{ApiClient, ClientArgs, encode};
use super::output;

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  postern client-block list
  postern client-block lift 192.0.2.7")]
pub struct ClientBlockArgs {
    #[command(subcommand)]
    pub command: ClientBlockCommand,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Subcommand, Debug)]
pub enum ClientBlockCommand {
    /// List the clients blocked now, with reason and expiry.
    List,
    /// Lift every block of a client address (and forget its failure counts).
    Lift {
        #[arg(value_name = "IP")]
        ip: String,
    },
}

pub fn run(args: ClientBlockArgs) -> Result<()> {
    let api = ApiClient::new(&args.client)?;
    let (answer, human) = match args.command {
        ClientBlockCommand::List => {
            let list = api.get("/client-blocks")?;
            let human = table(&list);
            (list, human)
        }
        ClientBlockCommand::Lift { ip } => {
            let answer = api.delete(&format!("/client-blocks/{}", encode(ip.trim())))?;
            let n = answer.get("lifted").and_then(Value::as_array).map_or(0, Vec::len);
            (answer, format!("lifted {n} block(s) of {ip}\n"))
        }
    };
    print!("{}", if args.client.json { output::json(&answer) } else { human });
    Ok(())
}

fn table(list: &Value) -> String {
    let header = ["CLIENT", "KIND", "LISTENER", "UNTIL (UTC)", "REASON"];
    output::list(list, &header, output::Noun("blocked client", "blocked clients"), |b| {
        vec![
            output::text(b, "client"),
            output::text(b, "kind"),
            output::text(b, "listener"),
            output::time(b, "until_ms"),
            output::text(b, "reason"),
        ]
    })
}
