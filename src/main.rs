fn main() -> std::process::ExitCode {
    machine::run(std::env::args_os())
}
