fn main() -> std::process::ExitCode {
    match drover::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drover: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
