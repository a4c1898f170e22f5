use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = seatsync::cli::Cli::parse();
    match seatsync::cli::execute(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", seatsync::db::plain_error(&err));
            ExitCode::FAILURE
        }
    }
}
