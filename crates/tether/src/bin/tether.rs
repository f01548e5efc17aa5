fn main() -> std::process::ExitCode {
    tether::main()
}
