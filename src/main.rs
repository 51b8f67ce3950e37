fn main() -> std::process::ExitCode {
    tracksd::cli::main()
}
